import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../../../../../shared/errors.js';
import { FolderPathChecker, checkFolderPaths, type FolderLimits, folderPathComponents } from '../../../../../tui/core/transfer/folder-manifest.js';

const LIMITS: FolderLimits = { maxFiles: 5, maxPathBytes: 64, maxDepth: 4, maxTotalBytes: 1000 };

function code(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.instance(error, ChatError);
    return (error as ChatError).code;
  }
  return 'none';
}

test('a plain tree passes, each component sanitized', () => {
  assert.equal(
    checkFolderPaths([
      { path: 'a.txt', size: 1 },
      { path: 'june/b.jpg', size: 2 },
      { path: 'june/deep/c', size: 0 },
      { path: 'june/.hidden', size: 3 },
    ], LIMITS),
    [['a.txt'], ['june', 'b.jpg'], ['june', 'deep', 'c'], ['june', 'hidden']],
  );
});

test('hostile paths are refused: .., ., empty components, absolute, backslashes, NUL', () => {
  for (const bad of ['../x', 'a/../../x', 'a/./b', 'a//b', '/etc/passwd', 'C:/x', 'C:\\x', 'a\\..\\b', 'a\u0000b', '', 'a/', '..']) {
    assert.is(code(() => checkFolderPaths([{ path: bad, size: 1 }], LIMITS)), 'E_PATH_REFUSED', JSON.stringify(bad));
  }
});

test('duplicates, case collisions and a file where a folder must be are refused', () => {
  assert.is(code(() => checkFolderPaths([{ path: 'a/b', size: 1 }, { path: 'a/b', size: 1 }], LIMITS)), 'E_PATH_REFUSED');
  assert.is(code(() => checkFolderPaths([{ path: 'Photo.JPG', size: 1 }, { path: 'photo.jpg', size: 1 }], LIMITS)), 'E_PATH_REFUSED');
  assert.is(code(() => checkFolderPaths([{ path: 'Dir/a', size: 1 }, { path: 'dir/b', size: 1 }], LIMITS)), 'none', 'one folder, two files');
  // Two names that sanitize to the same one collide too.
  assert.is(code(() => checkFolderPaths([{ path: '.x', size: 1 }, { path: 'x', size: 1 }], LIMITS)), 'E_PATH_REFUSED');
  assert.is(code(() => checkFolderPaths([{ path: 'a', size: 1 }, { path: 'a/b', size: 1 }], LIMITS)), 'E_PATH_REFUSED');
  assert.is(code(() => checkFolderPaths([{ path: 'a/b', size: 1 }, { path: 'a', size: 1 }], LIMITS)), 'E_PATH_REFUSED');
});

test('limits: too many files, more than announced, too long, too deep, too many bytes', () => {
  assert.is(code(() => new FolderPathChecker({ files: 6, totalBytes: 1 }, LIMITS)), 'E_FILE_TOO_LARGE');
  assert.is(code(() => new FolderPathChecker({ files: 0, totalBytes: 0 }, LIMITS)), 'E_FILE_TOO_LARGE');
  assert.is(code(() => new FolderPathChecker({ files: 1, totalBytes: 1001 }, LIMITS)), 'E_FILE_TOO_LARGE');
  const checker = new FolderPathChecker({ files: 2, totalBytes: 10 }, LIMITS);
  checker.add('a', 5);
  assert.is(code(() => checker.add('b', 6)), 'E_FILE_TOO_LARGE', 'more bytes than announced');
  checker.add('c', 5);
  assert.is(code(() => checker.add('d', 0)), 'E_FILE_TOO_LARGE', 'more files than announced');
  assert.is(code(() => checkFolderPaths([{ path: 'x'.repeat(65), size: 1 }], LIMITS)), 'E_PATH_REFUSED');
  assert.is(code(() => checkFolderPaths([{ path: 'a/b/c/d/e', size: 1 }], LIMITS)), 'E_PATH_REFUSED');
  assert.is(code(() => checkFolderPaths([{ path: 42 as unknown as string, size: 1 }], LIMITS)), 'E_PATH_REFUSED');
});

test('folderPathComponents: one path checked on its own (a file offered again, a restored record), the same rules', () => {
  assert.equal(folderPathComponents('june/.hidden', LIMITS), ['june', 'hidden']);
  for (const bad of ['../x', 'a/./b', '/etc/passwd', 'C:/x', 'a\\b', 'a\u0000b', '', 'a/b/c/d/e', 'x'.repeat(65), 42]) {
    assert.is(code(() => folderPathComponents(bad, LIMITS)), 'E_PATH_REFUSED', JSON.stringify(bad));
  }
});

test.run();
