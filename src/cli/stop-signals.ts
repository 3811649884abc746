/**
 * How a foreground hold is told to end: SIGINT, SIGTERM or SIGHUP (handled, so that they cannot
 * kill treefreeze mid-freeze), and with --until-stdin-closes, its standard input.
 */
/**
 * --until-stdin-closes: calls `ended` at EOF on stdin (the controller's SSH session went
 * away: sshd closes the pipe), or when a line reads "thaw". Returns the remover, which also
 * lets go of stdin so that it no longer keeps the process alive.
 */
export function watchStdin(ended: () => void): () => void {
  const input = process.stdin;
  let text = '';
  const onData = (data: Buffer) => {
    text += data.toString('utf8');
    if (text.split('\n').some((line) => line.trim() === 'thaw')) ended();
    text = text.slice(text.lastIndexOf('\n') + 1);
  };
  const onEnd = () => ended();
  input.on('data', onData);
  input.once('end', onEnd);
  input.once('close', onEnd);
  input.once('error', onEnd); // a broken pipe is a closed one
  input.resume();
  return () => {
    input.off('data', onData);
    input.off('end', onEnd);
    input.off('close', onEnd);
    input.pause();
    input.destroy();
  };
}

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
