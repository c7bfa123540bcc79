// Merging a session's environment into a debug launch, per debugger type. Pure functions.
//
// lanesd's session/start answers with the environment the debuggee needs (ide-protocol/openrpc.json,
// SessionStartResult.env): lanes' own variables (LANES_*, LD_PRELOAD) always apply, the layer going before
// any preload of the launch's own; the target pod's variables only fill in what the launch does not set, as
// `lanes exec` does.
import type { LaunchLike } from './discovery';

/** Whether a variable of the session overrides the launch's own value. */
export function sessionWins(name: string): boolean {
  return name.startsWith('LANES_') || name === 'LD_PRELOAD';
}

function mergedValue(name: string, ours: string, theirs: string | undefined): string | undefined {
  if (theirs === undefined || theirs === null) return ours;
  if (name === 'LD_PRELOAD') return theirs === '' ? ours : `${ours}:${theirs}`;
  return sessionWins(name) ? ours : undefined; // undefined: keep the launch's value
}

/**
 * A copy of `launch` with `env` merged in: the `environment` array of cppdbg (and other debuggers that use
 * it, when the launch already has one), the `env` object otherwise. The launch's own variables are kept
 * except for lanes' own; so are those the debuggee inherits (`inherited`, the editor's environment, which
 * debug adapters lay the launch's over): the pod's PATH or HOME never replace the developer's. The layer goes
 * before an inherited LD_PRELOAD too.
 */
export function mergeEnvironment<T extends LaunchLike>(
  launch: T,
  env: Record<string, string>,
  inherited: Record<string, string | undefined> = {},
): T {
  const out: T = { ...launch };
  const fromPod = (name: string) => !sessionWins(name) && inherited[name] !== undefined;
  const usesArray = launch.type === 'cppdbg' || (Array.isArray(launch.environment) && !launch.env);
  if (usesArray) {
    const list = Array.isArray(launch.environment) ? launch.environment.map((e) => ({ ...e })) : [];
    for (const [name, value] of Object.entries(env)) {
      if (fromPod(name)) continue;
      const existing = list.find((e) => e.name === name);
      const merged = mergedValue(name, value, existing?.value ?? (name === 'LD_PRELOAD' ? inherited[name] : undefined));
      if (merged === undefined) continue;
      if (existing) existing.value = merged;
      else list.push({ name, value: merged });
    }
    out.environment = list;
    return out;
  }
  const own: Record<string, string | null | undefined> = { ...(launch.env ?? {}) };
  for (const [name, value] of Object.entries(env)) {
    if (fromPod(name)) continue;
    const merged = mergedValue(name, value, own[name] ?? (name === 'LD_PRELOAD' ? inherited[name] : undefined));
    if (merged !== undefined) own[name] = merged;
  }
  out.env = own;
  return out;
}

/** The `lanes exec` command line equivalent to a launch: for "Copy lanes exec command". */
export function execCommand(options: { config?: string; target?: string; program: string[] }): string {
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const parts = ['lanes', 'exec'];
  if (options.config) parts.push('-f', quote(options.config));
  if (options.target) parts.push('-t', quote(options.target));
  parts.push('--', ...options.program.map(quote));
  return parts.join(' ');
}
