#!/usr/bin/env node
// The `kdefer` executable npm links at install time: it runs the built
// command (packages/cli/dist/main.js). It is a source file so that the link
// exists after a clean `npm ci`, before the first build.
import('../dist/main.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/main.js')) {
    process.stderr.write('kdefer: the command is not built yet: run `npm run build` (or `npm start`) first\n');
    process.exit(1);
  }
  throw e;
});
