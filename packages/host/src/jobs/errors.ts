import { AnnexError } from "@annex/manifest";

export type JobsErrorCode =
  /** No such install, or its manifest declares no job of that name (`details.field` says which). */
  | "E_JOB_NOT_FOUND"
  /** A run of the job is in progress (in this process or another one on the same database). */
  | "E_JOB_RUNNING"
  /** The install is disabled, or busy with a lifecycle change: its jobs do not run. */
  | "E_JOB_INSTALL_NOT_ACTIVE"
  /** `createHost({ jobs })` options, or a `list`/`runs` filter, that cannot work. */
  | "E_JOBS_OPTIONS";

/** A job could not be run or listed as asked; nothing ran. */
export class JobsError extends AnnexError {
  declare readonly code: JobsErrorCode;

  constructor(code: JobsErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
