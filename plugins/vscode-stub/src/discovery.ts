// Which config a debug launch uses, and whether lanes is on for it. Pure functions over plain data, so the
// unit tests need no editor: the caller gathers the launch configuration, the user's choices and the
// workspace's files.

/** The part of a debug configuration that lanes reads. */
export interface LaunchLike {
  type?: string;
  request?: string;
  env?: Record<string, string | null | undefined>;
  environment?: Array<{ name: string; value: string }>;
  [key: string]: unknown;
}

/** A variable of the launch's own environment, from `env` or (cppdbg) `environment`. */
export function launchVariable(launch: LaunchLike, name: string): string | undefined {
  const env = launch.env;
  if (env && typeof env === 'object' && typeof env[name] === 'string') return env[name] as string;
  if (Array.isArray(launch.environment))
    for (const item of launch.environment) if (item && item.name === name) return String(item.value);
  return undefined;
}

/**
 * Whether lanes runs for this launch: `LANES_ACTIVE` (then `MIRRORD_ACTIVE`) in the launch's environment
 * decides, `1` on and `0` off; without either, the status-bar toggle does.
 */
export function isActive(launch: LaunchLike, toggle: boolean): boolean {
  for (const name of ['LANES_ACTIVE', 'MIRRORD_ACTIVE']) {
    const value = launchVariable(launch, name);
    if (value === undefined || value === '') continue;
    return !['0', 'false', 'off', 'no'].includes(value.trim().toLowerCase());
  }
  return toggle;
}

/** Attach requests, and child sessions a debugger starts for a subprocess, are never hooked. */
export function isHookable(launch: LaunchLike, hasParentSession: boolean): boolean {
  return launch.request === 'launch' && !hasParentSession;
}

/** Where a config came from, for the output channel and error messages. */
export type ConfigSource = 'launch' | 'picked' | 'workspace' | 'none';

export interface ConfigChoice {
  path?: string;
  source: ConfigSource;
  /** Other candidates in the workspace, when it had more than one and the first was taken. */
  others: string[];
}

/** A workspace config candidate: `.lanes/*.json` first, then `.mirrord/*mirrord.json`. */
export function isConfigCandidate(relativePath: string): boolean {
  const parts = relativePath.split('/');
  const name = parts[parts.length - 1];
  const dir = parts.length >= 2 ? parts[parts.length - 2] : '';
  if (dir === '.lanes') return name.endsWith('.json');
  if (dir === '.mirrord') return /mirrord\.json$/.test(name);
  return false;
}

function rank(path: string): number {
  return path.includes('/.lanes/') || path.startsWith('.lanes/') ? 0 : 1;
}

/**
 * The config of one launch: `LANES_CONFIG`, then `MIRRORD_CONFIG_FILE` in the launch configuration, then the
 * config the user picked, then the workspace's candidates (lanes' before mirrord's, then by path). So each
 * launch of a compound can name its own.
 */
export function chooseConfig(launch: LaunchLike, picked: string | undefined, workspaceFiles: string[]): ConfigChoice {
  for (const name of ['LANES_CONFIG', 'MIRRORD_CONFIG_FILE']) {
    const value = launchVariable(launch, name);
    if (value) return { path: value, source: 'launch', others: [] };
  }
  if (picked) return { path: picked, source: 'picked', others: [] };
  const candidates = workspaceFiles
    .filter((f) => isConfigCandidate(f.replace(/\\/g, '/')))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  if (candidates.length === 0) return { source: 'none', others: [] };
  return { path: candidates[0], source: 'workspace', others: candidates.slice(1) };
}
