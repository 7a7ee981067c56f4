import { ChatError } from './errors.js';

/** The global room's name; it always exists and cannot be created or joined by name. */
export const GLOBAL_ROOM = 'global';

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

/** User and room names: 1-32 characters, letters, digits, `_ . -`, starting with a letter or digit. */
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}

/** Names are unique without regard to case; this is the key they are stored and compared under. */
export function nameKey(name: string): string {
  return name.toLowerCase();
}

export function validateUserName(name: unknown): string {
  if (!isValidName(name)) {
    throw new ChatError('E_BAD_NAME', 'user names are 1-32 characters: letters, digits, _ . - (starting with a letter or digit)');
  }
  return name;
}

/**
 * User names no new account may take (compared without regard to case), and why:
 * - `global` is the global room's name: a user called that reads like the room in every
 *   user list, presence line and /whisper target.
 * - `relay`, `server`, `system`, `securechat`: would read like the relay or the program itself
 *   speaking ("relay: your session expired, whisper me your password").
 * - `admin`, `administrator`, `root`, `operator`, `moderator`, `mod`: would read like the
 *   people who run the relay, the classic lever for talking users out of secrets.
 * Command names are not reserved: a command always starts with `/`, which no name contains,
 * so `/join join` is unambiguous. Only whole names are reserved; `admin2` or `relay-bot` are
 * fine (refusing every name that contains a word would refuse real names, and a lookalike is
 * caught by key verification, not by a list). Existing accounts with these names keep working:
 * the rule applies to registration (wire `register` and `relay user add`) only.
 */
export const RESERVED_USER_NAMES: ReadonlySet<string> = new Set([
  GLOBAL_ROOM,
  'relay',
  'server',
  'system',
  'securechat',
  'admin',
  'administrator',
  'root',
  'operator',
  'moderator',
  'mod',
]);

export function isReservedUserName(name: string): boolean {
  return RESERVED_USER_NAMES.has(nameKey(name));
}

/** A name for a NEW account: a valid user name that is not reserved (see RESERVED_USER_NAMES). */
export function validateNewUserName(name: unknown): string {
  const valid = validateUserName(name);
  if (isReservedUserName(valid)) {
    throw new ChatError('E_BAD_NAME', `the user name "${valid}" is reserved (it would read like the global room, the relay or its operators); pick another`);
  }
  return valid;
}

export function validateRoomName(name: unknown): string {
  if (!isValidName(name)) {
    throw new ChatError('E_BAD_NAME', 'room names are 1-32 characters: letters, digits, _ . - (starting with a letter or digit)');
  }
  if (nameKey(name) === GLOBAL_ROOM) {
    throw new ChatError('E_BAD_NAME', `"${GLOBAL_ROOM}" is reserved for the global room`);
  }
  return name;
}
