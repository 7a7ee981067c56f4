import os from 'node:os';
import path from 'node:path';
import { nameKey } from '../../shared/names.js';

/**
 * Where securechat keeps its files on the user's machine, following the XDG base directory
 * convention: settings and trust decisions in the config folder, larger state (identity keys,
 * downloads in progress) in the data folder. An explicit SECURECHAT_* variable wins, so tests
 * and several profiles on one account can be kept apart.
 */
export type Env = Record<string, string | undefined>;

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value : undefined;
}

/** `$SECURECHAT_CONFIG_DIR`, else `$XDG_CONFIG_HOME/securechat`, else `~/.config/securechat`. */
export function configDir(env: Env = process.env, home: string = os.homedir()): string {
  const explicit = nonEmpty(env.SECURECHAT_CONFIG_DIR);
  if (explicit) return path.resolve(explicit);
  const xdg = nonEmpty(env.XDG_CONFIG_HOME);
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'securechat');
  return path.join(home, '.config', 'securechat');
}

/** `$SECURECHAT_DATA_DIR`, else `$XDG_DATA_HOME/securechat`, else `~/.local/share/securechat`. */
export function dataDir(env: Env = process.env, home: string = os.homedir()): string {
  const explicit = nonEmpty(env.SECURECHAT_DATA_DIR);
  if (explicit) return path.resolve(explicit);
  const xdg = nonEmpty(env.XDG_DATA_HOME);
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'securechat');
  return path.join(home, '.local', 'share', 'securechat');
}

/** The known-relays file (trust on first use), like SSH's `known_hosts`. */
export function knownRelaysFile(config: string = configDir()): string {
  return path.join(config, 'known_relays');
}

/**
 * One user's private folder in the data folder (identity keys, contacts' key pins, whisper
 * replay state): `<data>/users/<name in lower case>`. Per user, so two accounts used on one
 * machine (two terminals of `npm start`) neither share keys nor write the same files.
 * `user` must be a valid user name (letters, digits, `_ . -`), which keeps it one path segment.
 */
export function userDataDir(user: string, data: string = dataDir()): string {
  return path.join(data, 'users', nameKey(user));
}
