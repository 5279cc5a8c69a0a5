import { describe, expect, it } from 'vitest';
import { groupAddress, sessionsOf } from '../../policies/client-keys.ts';

describe('client addresses as rate limits count them', () => {
  it('cuts IPv6 to its prefix, in one spelling', () => {
    const group = '2001:db8:1:2:0:0:0:0/64';
    for (const address of [
      '2001:db8:1:2::1',
      '2001:0db8:0001:0002:ffff:ffff:ffff:ffff',
      '2001:DB8:1:2:a:b:c:d',
      '2001:db8:1:2::1%eth0',
      '2001:db8:1:2::10.0.0.1',
    ]) {
      expect(groupAddress(address, 64), address).toBe(group);
    }
    expect(groupAddress('2001:db8:1:3::1', 64)).not.toBe(group);
    expect(groupAddress('2001:db8:1:2ff::1', 56)).toBe('2001:db8:1:200:0:0:0:0/56');
    expect(groupAddress('2001:db8::1', 128)).toBe('2001:db8:0:0:0:0:0:1/128');
  });

  it('counts IPv4 and IPv4-mapped IPv6 alike, by the whole address', () => {
    expect(groupAddress('192.0.2.7', 64)).toBe('192.0.2.7');
    expect(groupAddress('::ffff:192.0.2.7', 64)).toBe('192.0.2.7');
    expect(groupAddress('::FFFF:192.0.2.7', 64)).toBe('192.0.2.7');
  });
});

describe('sessions as rate limits count them', () => {
  it('names a session by its token, whatever the signature or cookie name', () => {
    const [plain] = sessionsOf({ cookie: 'a=1; better-auth.session_token=tok123.sig1' });
    expect(plain).toBeDefined();
    expect(sessionsOf({ cookie: 'better-auth.session_token=tok123.other' })).toEqual([plain]);
    expect(sessionsOf({ cookie: '__Secure-better-auth.session_token=tok123%2Esig' })).toEqual([
      plain,
    ]);
    expect(sessionsOf({ cookie: 'better-auth.session_token=tok124.sig1' })).not.toEqual([plain]);
    expect(plain).not.toContain('tok123');
    expect(sessionsOf({ cookie: 'better-auth.session_data=tok123' })).toEqual([]);
    expect(sessionsOf({})).toEqual([]);
  });

  it('names each session of a request, so that an added one leaves the others counted', () => {
    const [plain] = sessionsOf({ cookie: 'better-auth.session_token=tok123.sig1' });
    const both = sessionsOf({
      cookie: 'better-auth.session_token=junk.x; __Secure-better-auth.session_token=tok123.s',
    });
    expect(both).toHaveLength(2);
    expect(both).toContain(plain);
    const many = Array.from({ length: 9 }, (_, index) => `better-auth.session_token=t${index}`);
    const fewer = many.slice(0, 6);
    expect(sessionsOf({ cookie: many.join('; ') })).toHaveLength(1);
    expect(sessionsOf({ cookie: many.join('; ') })).toEqual(
      sessionsOf({ cookie: fewer.join('; ') }),
    );
  });
});
