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

export function validateRoomName(name: unknown): string {
  if (!isValidName(name)) {
    throw new ChatError('E_BAD_NAME', 'room names are 1-32 characters: letters, digits, _ . - (starting with a letter or digit)');
  }
  if (nameKey(name) === GLOBAL_ROOM) {
    throw new ChatError('E_BAD_NAME', `"${GLOBAL_ROOM}" is reserved for the global room`);
  }
  return name;
}
