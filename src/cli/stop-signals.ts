/**
 * How a foreground hold is told to end: SIGINT, SIGTERM or SIGHUP (handled, so that they cannot
 * kill treefreeze mid-freeze). (--until-stdin-closes reads its orders in stdin-orders.ts.)
 */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** Installs handlers for SIGINT/SIGTERM/SIGHUP (so they cannot kill us mid-freeze); returns the remover. */
export function onStopSignals(handler: (signal: StopSignal) => void): () => void {
  const listeners = STOP_SIGNALS.map((signal) => {
    const listener = () => handler(signal);
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}
