#!/usr/bin/env node
// A native-solc look-alike over solc-js, so py-solc-x can drive it: answers `--version` with a
// `Version: x.y.z+commit.h` line and `--standard-json` with JSON only (solcjs's own CLI prints a
// `>>>` banner first, which py-solc-x cannot parse). solc-js and imports are resolved under
// --base-path (the project root): `<base>/<path>` first, then `<base>/node_modules/<path>`.
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const base = path.resolve(flag('--base-path') || process.env.MARKET_SIM_ROOT || process.cwd());

let solc;
try {
  solc = require(path.join(base, 'node_modules', 'solc'));
} catch (err) {
  process.stderr.write(`solc-js not found in ${path.join(base, 'node_modules')}: run \`npm ci\` in ${base}\n`);
  process.exit(2);
}

if (args.includes('--version')) {
  process.stdout.write('solc, the solidity compiler commandline interface\nVersion: ' + solc.version() + '\n');
} else if (args.includes('--standard-json')) {
  const findImports = (importPath) => {
    for (const candidate of [path.join(base, importPath), path.join(base, 'node_modules', importPath)]) {
      if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
    }
    return { error: 'File not found: ' + importPath };
  };
  // No process.exit() here: stdout is a pipe and large writes finish asynchronously.
  process.stdout.write(solc.compile(fs.readFileSync(0, 'utf8'), { import: findImports }));
} else {
  process.stderr.write('solc_shim: only --version and --standard-json are supported\n');
  process.exitCode = 1;
}
