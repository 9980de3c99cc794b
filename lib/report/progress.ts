// Progress of the long steps (UPX, traced runs, the test, emit, images) for a person at a
// terminal: on a TTY, a step's line ("[1/1] compress /bin/bash with UPX (1.27 MB)") is shown while
// it runs and completed with its result and time when it ends. Nothing at all when the stream is
// no TTY (pipes, CI logs, tests), and no colour when NO_COLOR is set (https://no-color.org).

export interface Progress {
  /** Starts a step; `count` is its place among the steps of its kind ([1, 2] is "1/2"). */
  step(what: string, count?: [number, number]): ProgressStep;
  /** `write` (what prints a message on the same terminal), ending an unfinished step line first, so that no message lands inside it. */
  around<A extends unknown[]>(write: (...args: A) => void): (...args: A) => void;
  /** Ends an unfinished step line (a step that failed). */
  close(): void;
}

export interface ProgressStep {
  /** The step ended; `result` ("1.27 MB -> 576 kB") goes after its line. */
  done(result?: string): void;
}

/** The reporter that reports nothing. */
export const silentProgress: Progress = {
  step: () => ({ done: () => undefined }),
  around: (write) => write,
  close: () => undefined,
};

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

/** A reporter on `stream` when it is a terminal, else silentProgress. */
export function terminalProgress(stream: ProgressStream, env: NodeJS.ProcessEnv = process.env): Progress {
  if (!stream.isTTY) return silentProgress;
  const color = !env["NO_COLOR"];
  const paint = (code: string, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  let open: string | null = null;
  const close = () => {
    if (open !== null) stream.write("\n");
    open = null;
  };
  return {
    step(what, count) {
      close();
      const line = `${count ? `${paint("1", `[${count[0]}/${count[1]}]`)} ` : ""}${what}`;
      const started = Date.now();
      stream.write(`${line} ...`);
      open = line;
      return {
        done(result) {
          const seconds = `${((Date.now() - started) / 1000).toFixed(1)} s`;
          const tail = `${result ? `: ${result}` : ""} ${paint("2", `(${seconds})`)}`;
          // Still on its line: rewrite it (carriage return, erase the line); else a line of its own.
          stream.write(`${open === line ? "\r\x1b[K" : ""}${line}${tail}\n`);
          if (open === line) open = null;
        },
      };
    },
    around(write) {
      return (...args) => {
        close();
        write(...args);
      };
    },
    close,
  };
}

/** Bytes for people: 512 B, 12.3 kB, 6.61 MB (SI units, as ls -h --si and docker do). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toPrecision(3)} ${units[unit]}`;
}
