/** piscina_task.ts — the trivial function piscina's workers run (the baseline's work item). */
export default function trivial(x: number): number {
  return x + 1;
}
