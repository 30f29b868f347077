// kdefer-only behaviour: the race lab's case descriptors (defineRace) and the
// built-in modules' IRQ line table.
import { describe, it, expect } from 'vitest';
import { RACE_CASES, defineRace, builtinIrqTable } from '@kdefer/cli';

describe('race case descriptors and the IRQ line table (kdefer-only)', () => {
  it('no two built-in modules share an IRQ line, and every race case declares the lines of its table row', () => {
    const table = builtinIrqTable();
    const all = Object.values(table).flat();
    expect(new Set(all).size).toBe(all.length);
    for (const c of RACE_CASES) {
      expect(c.irqs.length).toBeGreaterThan(0);
      expect([...c.irqs]).toEqual(table[c.moduleName]);
    }
  });

  it('every race case comes from its module descriptor: name, module, buggy then fixed variants', () => {
    expect(RACE_CASES.map((c) => c.name)).toEqual([
      'del-timer-uaf',
      'rearm',
      'sync-deadlock',
      'shutdown',
      'tasklet-teardown',
      'del-timer-narrow',
    ]);
    for (const c of RACE_CASES) {
      expect(c.moduleName).toBe(`race.${c.name}`);
      expect(c.module.href).toMatch(new RegExp(`/modules/races/${c.name}\\.js$`));
      expect(c.variants.some((v) => v.fixed)).toBe(true);
      expect(c.variants.some((v) => !v.fixed)).toBe(true);
    }
  });

  it('defineRace refuses a spec with a bad name, no variant, a variant twice, or no entry called with the API', () => {
    const spec = {
      name: 'x',
      statement: 'R-1',
      summary: 's',
      hit: 'h',
      buggy: ['a'],
      fixed: ['b'],
      defaultTrials: 1,
      irqs: [],
      url: import.meta.url,
    };
    expect(defineRace(spec).variants).toEqual([
      { api: 'a', fixed: false },
      { api: 'b', fixed: true },
    ]);
    expect(() => defineRace({ ...spec, name: 'X Y' })).toThrow(/name must be/);
    expect(() => defineRace({ ...spec, buggy: [], fixed: [] })).toThrow(/no API variant/);
    expect(() => defineRace({ ...spec, fixed: ['a'] })).toThrow(/listed twice/);
    expect(() => defineRace({ ...spec, natural: [{ cpu: 1, entry: 'device', api: false }] })).toThrow(/no natural entry/);
  });
});
