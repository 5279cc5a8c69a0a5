import { describe, expect, it } from 'vitest';
import { connectionOptions } from '../../proxy/hop-by-hop.ts';

describe('connection options', () => {
  it('names every listed field, lower-cased and trimmed, never Host', () => {
    expect([...connectionOptions(' Keep-Alive, X-Secret ,host,,')]).toEqual([
      'keep-alive',
      'x-secret',
    ]);
    expect([...connectionOptions(['close', 'X-A, x-b'])]).toEqual(['close', 'x-a', 'x-b']);
    expect(connectionOptions(undefined).size).toBe(0);
  });

  it('answers a value seen before the same way, however many values were seen', () => {
    const first = [...connectionOptions('keep-alive, X-Drop')];
    for (let index = 0; index < 200; index += 1) connectionOptions(`x-field-${index}`);
    const long = `x-${'a'.repeat(100)}, x-b`;
    expect([...connectionOptions(long)]).toEqual([`x-${'a'.repeat(100)}`, 'x-b']);
    expect([...connectionOptions(long)]).toEqual([`x-${'a'.repeat(100)}`, 'x-b']);
    expect([...connectionOptions('keep-alive, X-Drop')]).toEqual(first);
    expect([...connectionOptions('x-field-199')]).toEqual(['x-field-199']);
  });
});
