// magicpak: prepended to emscripten's glue (--pre-js) so that UPX runs inside a host Node process.
// Fixes three quirks of emscripten 3.1.6's NODERAWFS and adds one hook; nothing else changes.
//
//  1. stdio. NODERAWFS maps fds 0-2 to the host process's own fds and says they are TTYs, so UPX
//     would write ANSI colours and a progress bar into the host's stdout. Here they are not TTYs
//     and not the host's: what UPX writes to fd 1/2 goes to Module.stdioWrite(fd, bytes), or
//     nowhere; fd 0 reads end-of-file.
//  2. utime. __syscall_utimensat passes milliseconds to fs.utimesSync, which takes seconds
//     (packed files got an mtime in the year 2446).
//  3. environment. The program sees emscripten's made-up environment (USER=web_user, ...);
//     Module.env (an object of strings), when given, is the whole environment instead.
// And Module.closeFiles(): after an abort (a trap, out of memory) the runtime closes nothing, so
// the host fds of files the program still had open are closed by the caller with it.
Module['preRun'] = [].concat(Module['preRun'] || [], function magicpakPreRun() {
  var sink = function (fd) {
    return {
      fd: fd, nfd: -1, position: 0, path: '', flags: fd === 0 ? 0 : 1, tty: false, seekable: false,
      node: { mode: 8592 /* S_IFCHR | 0620 */ },
      stream_ops: {
        read: function () { return 0; },
        write: function (stream, buffer, offset, length) {
          if (Module['stdioWrite']) Module['stdioWrite'](fd, buffer.slice(offset, offset + length));
          return length;
        },
        llseek: function () { throw new FS.ErrnoError(70 /* ESPIPE */); },
      },
    };
  };
  FS.createStandardStreams = function () {
    for (var fd = 0; fd < 3; fd++) FS.streams[fd] = sink(fd);
  };

  var utime = FS.utime;
  FS.utime = function (path, atime, mtime) { return utime(path, atime / 1000, mtime / 1000); };

  var env = Module['env'];
  if (env && typeof ENV == 'object') {
    ['USER', 'LOGNAME', 'PATH', 'PWD', 'HOME', 'LANG', '_'].forEach(function (k) { ENV[k] = undefined; });
    for (var k in env) if (typeof env[k] == 'string') ENV[k] = env[k];
  }
});

Module['closeFiles'] = function () {
  var close = require('fs').closeSync;
  FS.streams.forEach(function (s) {
    if (s && !s.stream_ops && typeof s.nfd == 'number' && s.nfd > 2) {
      try { close(s.nfd); } catch (e) { /* already closed */ }
      s.nfd = -1;
    }
  });
};
