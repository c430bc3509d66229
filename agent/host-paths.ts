// Where the host's /proc, /sys and root filesystem are: the usual places, or bind mounts when the agent
// runs in a container (like node_exporter's --path.procfs/--path.sysfs/--path.rootfs).
import { join } from 'node:path'

export interface HostPaths {
  proc: string
  sys: string
  /** The host's `/` as this process sees it; '/' outside a container. */
  rootfs: string
}

export const DEFAULT_HOST_PATHS: HostPaths = { proc: '/proc', sys: '/sys', rootfs: '/' }

/** A path of the host (e.g. a mount point) as this process reaches it. */
export function onHost(paths: HostPaths, hostPath: string): string {
  return paths.rootfs === '/' ? hostPath : join(paths.rootfs, hostPath)
}
