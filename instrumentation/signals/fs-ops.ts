/**
 * The op table of the fs instrumentation: which node:fs functions are measured, how each names its
 * file (path or fd), which bytes it moves and what it does to the fd → group bookkeeping. Pure data,
 * read by the recorder (fs-record.ts), the wrappers (fs-wrap.ts) and the patcher (fs.ts).
 */

export type Api = 'sync' | 'callback' | 'promise' | 'stream';
/** How the first argument names the file: a path, an fd, either, or nothing useful. */
export type Target = 'path' | 'fd' | 'pathOrFd' | 'none';
/** Which bytes the call moved, read from its arguments or result. */
export type Bytes =
  | 'none'
  | 'resultRead' // result is a number of bytes read (read, readv)
  | 'resultWrite' // result is a number of bytes written (write, writev)
  | 'dataRead' // result is file content (readFile)
  | 'argWrite'; // args[1] is the content written (writeFile, appendFile)
/** Bookkeeping of fd → group for open/close. */
export type FdEffect = 'none' | 'open' | 'close';

export interface OpSpec {
  readonly op: string;
  readonly target: Target;
  readonly bytes: Bytes;
  readonly fd: FdEffect;
}

export function spec(
  op: string,
  target: Target,
  bytes: Bytes = 'none',
  fd: FdEffect = 'none',
): OpSpec {
  return { op, target, bytes, fd };
}

/** Operations measured in every API style (name without `Sync`). */
export const OPS: readonly OpSpec[] = [
  spec('readFile', 'pathOrFd', 'dataRead'),
  spec('writeFile', 'pathOrFd', 'argWrite'),
  spec('appendFile', 'pathOrFd', 'argWrite'),
  spec('open', 'path', 'none', 'open'),
  spec('close', 'fd', 'none', 'close'),
  spec('read', 'fd', 'resultRead'),
  spec('write', 'fd', 'resultWrite'),
  spec('readv', 'fd', 'resultRead'),
  spec('writev', 'fd', 'resultWrite'),
  spec('fsync', 'fd'),
  spec('fdatasync', 'fd'),
  spec('fstat', 'fd'),
  spec('ftruncate', 'fd'),
  spec('stat', 'path'),
  spec('lstat', 'path'),
  spec('access', 'path'),
  spec('readdir', 'path'),
  spec('mkdir', 'path'),
  spec('mkdtemp', 'path'),
  spec('rm', 'path'),
  spec('rmdir', 'path'),
  spec('unlink', 'path'),
  spec('rename', 'path'),
  spec('copyFile', 'path'),
  spec('truncate', 'path'),
  spec('chmod', 'path'),
  spec('utimes', 'path'),
  spec('readlink', 'path'),
  spec('symlink', 'path'),
];

/** Functions of `fs.promises` (FileHandle-based ones are not module functions). */
export const PROMISE_OPS = new Set([
  'readFile',
  'writeFile',
  'appendFile',
  'open',
  'stat',
  'lstat',
  'access',
  'readdir',
  'mkdir',
  'mkdtemp',
  'rm',
  'rmdir',
  'unlink',
  'rename',
  'copyFile',
  'truncate',
  'chmod',
  'utimes',
  'readlink',
  'symlink',
]);

/** FileHandle methods (fs.promises.open's result) and what they move (see handleBytes). */
export const HANDLE_OPS: readonly { readonly method: string; readonly spec: OpSpec }[] = [
  { method: 'read', spec: spec('read', 'fd', 'resultRead') },
  { method: 'readv', spec: spec('readv', 'fd', 'resultRead') },
  { method: 'write', spec: spec('write', 'fd', 'resultWrite') },
  { method: 'writev', spec: spec('writev', 'fd', 'resultWrite') },
  { method: 'readFile', spec: spec('readFile', 'fd', 'dataRead') },
  { method: 'writeFile', spec: spec('writeFile', 'fd', 'argWrite') },
  { method: 'appendFile', spec: spec('appendFile', 'fd', 'argWrite') },
  { method: 'sync', spec: spec('fsync', 'fd') },
  { method: 'datasync', spec: spec('fdatasync', 'fd') },
  { method: 'stat', spec: spec('fstat', 'fd') },
  { method: 'truncate', spec: spec('ftruncate', 'fd') },
];
/** `close` is an own arrow-function property of each FileHandle (not on the prototype): wrapped per handle. */
export const HANDLE_CLOSE = spec('close', 'fd', 'none', 'close');
