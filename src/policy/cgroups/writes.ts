// What applying resources means on disk: a list of (controller, file, value) writes. Pure types.

export interface ResourceWrite {
  /**
   * The v1 controller whose hierarchy holds the file (`memory`, `cpu`, …). On cgroup v2 the
   * controller that must be enabled for the file to exist; `` for files every cgroup2 dir has.
   */
  controller: string;
  /** File name in the container's cgroup directory, e.g. `memory.max`. */
  file: string;
  value: string;
  /** The spec field the value comes from, for errors: `linux.resources.memory.limit`. */
  field: string;
}
