import { describe, it, expect } from 'vitest';
import { withMachine, grep } from './helpers.js';

describe('the shared slab and KASAN', () => {
  it('kdefer-only (slab handles): objects with typed fields round-trip, and travel between CPUs by handle', async () => {
    await withMachine({ fixtures: ['slabkasan'] }, async (m) => {
      expect(await m.call(0, 'slabkasan', 'roundtrip')).toEqual([42, 1.5]);
      await m.call(0, 'slabkasan', 'handOver');
      expect(await m.call(1, 'slabkasan', 'readHandle')).toBe(7);
      expect(await m.call(1, 'slabkasan', 'cacheAlloc', 500)).toBe(500);
    });
  });

  it('kdefer-only (KASAN): an access after kfree is "BUG: KASAN: slab-use-after-free", naming the object, the accessor and where it was allocated and freed — once per allocation', async () => {
    await withMachine({ fixtures: ['slabkasan'] }, async (m) => {
      await m.call(0, 'slabkasan', 'handOver');
      await m.call(0, 'slabkasan', 'freeHandle');
      expect(await m.call(1, 'slabkasan', 'readHandle')).toBe(0x6b6b6b6b);
      const d = m.dmesg();
      expect(d).toMatch(/BUG: KASAN: slab-use-after-free in (Object\.)?readHandle/);
      expect(d).toMatch(/Read of size 4 at addr 0xffff888[0-9a-f]+ by task readHandle\/\d+/);
      expect(d).toMatch(/field 'refcnt' of struct slabkasan\.priv/);
      expect(d).toMatch(/CPU: 1 PID: \d+ Comm: readHandle/);
      expect(d).toMatch(/Allocated by task \d+ on cpu 0 in task context:\n.*handOver/);
      expect(d).toMatch(/Freed by task \d+ on cpu 0 in task context:\n.*freeHandle/);
      expect(d).toMatch(/which belongs to the cache slabkasan\.priv of size 16/);
      const [v, poison] = await m.call<number[]>(0, 'slabkasan', 'useAfterFree');
      expect(v).toBe(poison);
      expect(grep(m, /BUG: KASAN: slab-use-after-free/).length).toBe(2);
      expect(m.panicked()).toBe(false);
    });
  });

  it('kdefer-only (KASAN): a double free and an invalid free are reported', async () => {
    await withMachine({ fixtures: ['slabkasan'] }, async (m) => {
      await m.call(0, 'slabkasan', 'doubleFree');
      await m.call(0, 'slabkasan', 'invalidFree');
      expect(grep(m, /BUG: KASAN: double-free in/).length).toBe(1);
      expect(grep(m, /BUG: KASAN: invalid-free in/).length).toBe(1);
    });
  });

  it('S-LOCK-15/R-5: kmalloc(GFP_KERNEL) from a softirq is "BUG: sleeping function called from invalid context"', async () => {
    await withMachine({ fixtures: ['slabkasan'] }, async (m) => {
      await m.call(0, 'slabkasan', 'fromSoftirq');
      expect(m.dmesg()).toMatch(
        /BUG: sleeping function called from invalid context at kmalloc\(GFP_KERNEL\)\n.*in_atomic\(\): 1, irqs_disabled\(\): 0, non_block: 0, pid: \d+, name: fromSoftirq/,
      );
    });
  });

  it("R-1, a stale handle (KASAN): an object's timer_list and tasklet_struct, used through a handle whose object was freed and whose slot went to a new object, are refused with a KASAN report in the API that used them, and the new object's timer and tasklet are left alone", async () => {
    await withMachine({ fixtures: ['slabkasan'], slabWords: 4096 }, async (m) => {
      const r = await m.call<Record<string, unknown>>(0, 'slabkasan', 'staleEmbedded', 300);
      expect(r.reused).toBe(true); // the precondition: the slot and its timer and tasklet went to the new object
      expect(r).toEqual({
        reused: true,
        modOld: 0,
        modEarly: 0,
        pendingAfterStale: false,
        modNew: 0,
        delOld: 0,
        delEarly: 0,
        pendingAfterDel: true,
        schedAfterStale: 0,
        ranStale: 0,
        ranNew: 1,
        n: 7,
      });
      const d = m.dmesg();
      expect(grep(m, /BUG: KASAN: slab-use-after-free in mod_timer$/).length).toBe(2);
      expect(grep(m, /BUG: KASAN: slab-use-after-free in del_timer$/).length).toBe(2);
      expect(grep(m, /BUG: KASAN: slab-use-after-free in tasklet_schedule$/).length).toBe(2);
      expect(grep(m, /BUG: KASAN: slab-use-after-free in tasklet_kill$/).length).toBe(1);
      expect(d).not.toMatch(/Oops|BUG: (?!KASAN)/);
    });
  });
});
