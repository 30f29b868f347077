import { describe, it, expect } from 'vitest';
import { runTour } from '@kdefer/cli';

describe('kdefer tour: the newer deferred work', () => {
  it('S-TIRQ-1/S-TIRQ-9/S-HRT-1/S-HRT-5/S-IRQW-2: the tour shows a threaded handler in irq/N-family, an hrtimer restarted from its callback (never early) and an irq_work, with their checks passing', async () => {
    const r = await runTour({ cpus: 2, seconds: 0.3, rate: 200 });
    const fam = r.checks.filter((c) => /^(threaded IRQ|hrtimer|irq_work):/.test(c.name));
    expect(fam.map((c) => [c.name.split(':')[0], c.pass])).toEqual([
      ['threaded IRQ', true],
      ['hrtimer', true],
      ['irq_work', true],
    ]);
    expect(r.ps).toMatch(/irq\/56-family/);
    expect(r.ok).toBe(true);
  });
});
