// Files named on the command line: reading one with an error that names the flag, and checking where an
// output may go before any work starts.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { InvalidInputError } from '../ml/errors';

/** The text of a file given with `flag`; a missing or unreadable file is an error naming the flag. */
export function readInputFile(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new InvalidInputError(`${flag} ${file}: ${reason}`);
  }
}

/** A commander parser for an output file: its directory must exist and it must not be a directory. Returns the absolute path. */
export function outputPath(value: string): string {
  const resolved = path.resolve(value);
  const directory = path.dirname(resolved);
  if (!statSync(directory, { throwIfNoEntry: false })?.isDirectory())
    throw new InvalidArgumentError(`its directory ${directory} does not exist.`);
  if (statSync(resolved, { throwIfNoEntry: false })?.isDirectory()) throw new InvalidArgumentError(`${resolved} is a directory.`);
  return resolved;
}

/** A commander parser for a number in [low, high] (or (low, high] when lowOpen), whole when asked. */
export const numberIn =
  (low: number, high: number, whole = false, lowOpen = false) =>
  (value: string): number => {
    const parsed = value.trim() === '' ? Number.NaN : Number(value);
    const ok = (lowOpen ? parsed > low : parsed >= low) && parsed <= high && (!whole || Number.isInteger(parsed));
    if (!ok)
      throw new InvalidArgumentError(`"${value}" is not a ${whole ? 'whole ' : ''}number in ${lowOpen ? '(' : '['}${low}, ${high}].`);
    return parsed;
  };
