import { RunnerError, createWorkerPoolRunner, type Runner } from "@annex/runner";

/**
 * The runner a host uses when it is given none: the worker pool (sandboxes on
 * worker threads, with a watchdog that stops what QuickJS's interrupt handler
 * cannot), started on first use so a host that never executes anything
 * (an admin tool, a migration step) starts no threads. The host owns it and
 * closes it with itself.
 */
export function lazyWorkerPool(): Runner {
  let pool: Runner | undefined;
  let closed = false;
  const get = (): Runner => {
    if (pool === undefined && closed) throw new RunnerError("E_RUNNER_UNAVAILABLE", "the host is closed; create a new one");
    return (pool ??= createWorkerPoolRunner());
  };
  return {
    load: async (bundle) => get().load(bundle),
    execute: async (envelope, options) => get().execute(envelope, options),
    unload: async (contentHash) => {
      await pool?.unload(contentHash);
    },
    close: async () => {
      closed = true;
      await pool?.close();
    },
  };
}
