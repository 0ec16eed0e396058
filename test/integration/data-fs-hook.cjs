// Preloaded into the CLI by the real-data tests (NODE_OPTIONS=--require …): records every
// file-system call that opens or changes a path, with its flags, into $DEDUP_FS_LOG, so a
// test can prove the toolkit never opened a source for writing (tests run as root, where
// chmod a-w would not stop a write).
"use strict";
const fs = require("node:fs");
const fsp = require("node:fs/promises");
const { syncBuiltinESMExports } = require("node:module");

const log = [];
const record = (op, path, flags) => log.push(`${op}\t${String(path)}\t${flags === undefined ? "" : String(flags)}`);

const OPEN = ["open", "openSync"];
const CHANGE = ["writeFile", "writeFileSync", "appendFile", "appendFileSync", "rename", "renameSync", "unlink", "unlinkSync", "rm", "rmSync", "rmdir", "rmdirSync", "mkdir", "mkdirSync", "truncate", "truncateSync", "copyFile", "copyFileSync", "cp", "cpSync", "chmod", "chmodSync", "chown", "chownSync", "utimes", "utimesSync", "symlink", "symlinkSync", "link", "linkSync"];

for (const name of OPEN) {
  const orig = fs[name];
  fs[name] = function (path, flags, ...rest) {
    record(name, path, typeof flags === "function" || flags === undefined ? "r" : flags);
    return orig.call(this, path, flags, ...rest);
  };
}
for (const name of CHANGE) {
  const orig = fs[name];
  fs[name] = function (path, ...rest) {
    record(name, path);
    if (name.startsWith("rename") || name.startsWith("copyFile") || name.startsWith("cp") || name.startsWith("link") || name.startsWith("symlink")) record(`${name}:to`, rest[0]);
    return orig.call(this, path, ...rest);
  };
}
{
  const orig = fsp.open;
  fsp.open = function (path, flags, ...rest) {
    record("promises.open", path, flags === undefined ? "r" : flags);
    return orig.call(this, path, flags, ...rest);
  };
  for (const name of ["writeFile", "appendFile", "rename", "unlink", "rm", "rmdir", "mkdir", "truncate", "copyFile", "cp", "chmod", "chown", "utimes", "symlink", "link"]) {
    const o = fsp[name];
    fsp[name] = function (path, ...rest) {
      record(`promises.${name}`, path);
      if (["rename", "copyFile", "cp", "symlink", "link"].includes(name)) record(`promises.${name}:to`, rest[0]);
      return o.call(this, path, ...rest);
    };
  }
}
syncBuiltinESMExports();

const { openSync, writeSync, closeSync } = fs; // wrapped: the log file itself is recorded too, harmlessly
process.on("exit", () => {
  if (!process.env.DEDUP_FS_LOG) return;
  const fd = openSync(process.env.DEDUP_FS_LOG, "a");
  writeSync(fd, log.join("\n") + "\n");
  closeSync(fd);
});
