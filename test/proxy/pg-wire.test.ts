import { describe, expect, it } from 'vitest';
import { SaslOfferFilter } from '../../proxy/pg-sasl-offer.ts';
import { errorResponse, FrontendWatch } from '../../proxy/pg-wire.ts';

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function saslOffer(...mechanisms: string[]): Buffer {
  const code = Buffer.alloc(4);
  code.writeInt32BE(10, 0);
  return message('R', Buffer.concat([code, Buffer.from(`${mechanisms.join('\0')}\0\0`)]));
}

function byteByByte(filter: SaslOfferFilter, input: Buffer): Buffer {
  const out: Buffer[] = [];
  for (const byte of input) out.push(filter.push(Buffer.from([byte])));
  return Buffer.concat(out);
}

describe('SASL offer filter', () => {
  it('removes SCRAM-SHA-256-PLUS from the first offer, however the bytes are split', () => {
    const later = message('Z', Buffer.from('I'));
    const input = Buffer.concat([saslOffer('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'), later]);
    const expected = Buffer.concat([saslOffer('SCRAM-SHA-256'), later]);
    expect(new SaslOfferFilter().push(input)).toEqual(expected);
    const filter = new SaslOfferFilter();
    expect(byteByByte(filter, input)).toEqual(expected);
    expect(filter.done).toBe(true);
  });

  it('passes notices and protocol negotiation before the offer untouched', () => {
    const version = message('v', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]));
    const filter = new SaslOfferFilter();
    const out = filter.push(Buffer.concat([version, saslOffer('SCRAM-SHA-256-PLUS', 'X')]));
    expect(out).toEqual(Buffer.concat([version, saslOffer('X')]));
  });

  it('changes nothing else: other requests, errors and later offers', () => {
    const md5 = message('R', Buffer.from([0, 0, 0, 5, 1, 2, 3, 4]));
    const filter = new SaslOfferFilter();
    expect(filter.push(md5)).toEqual(md5);
    const later = saslOffer('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256');
    expect(filter.push(later)).toEqual(later);
    const error = errorResponse('nope');
    expect(new SaslOfferFilter().push(error)).toEqual(error);
    const onlyPlus = saslOffer('SCRAM-SHA-256-PLUS');
    expect(new SaslOfferFilter().push(onlyPlus)).toEqual(onlyPlus);
  });
});

describe('frontend watch', () => {
  const startup = Buffer.alloc(16);
  startup.writeInt32BE(16, 0);

  it('knows a session that ended with Terminate from one cut short', () => {
    const watch = new FrontendWatch(16);
    watch.push(startup);
    watch.push(message('Q', Buffer.from('select 1\0')));
    expect(watch.terminated).toBe(false);
    const terminate = message('X', Buffer.alloc(0));
    for (const byte of terminate) watch.push(Buffer.from([byte]));
    expect(watch.terminated).toBe(true);
  });

  it('is not fooled by an X inside a message body', () => {
    const watch = new FrontendWatch(16);
    watch.push(Buffer.concat([startup, message('d', Buffer.from('X\0\0\0\x04'))]));
    expect(watch.terminated).toBe(false);
  });
});

describe('error response', () => {
  it('is a FATAL ErrorResponse with SQLSTATE 08006 and the message', () => {
    const bytes = errorResponse('ocomms-guard GUARD_ERR_DB_TUNNEL_VERIFY: no');
    expect(bytes.subarray(0, 1).toString()).toBe('E');
    expect(bytes.readInt32BE(1)).toBe(bytes.length - 1);
    const fields = bytes.subarray(5).toString('utf8').split('\0');
    expect(fields).toEqual([
      'SFATAL',
      'VFATAL',
      'C08006',
      'Mocomms-guard GUARD_ERR_DB_TUNNEL_VERIFY: no',
      '',
      '',
    ]);
  });
});
