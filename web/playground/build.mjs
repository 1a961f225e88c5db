// Builds the playground's static assets into internal/playground/dist, which
// the Go binary embeds. Run after `npm ci` (the Makefile's `playground`
// target does both).
//
// No bundler: GraphiQL and React ship prebuilt UMD files, so building means
// copying them under content-hashed names (cacheable for a year), rendering
// index.html with those names, and refusing any asset that would make the
// browser fetch from another host, since the playground must load where
// foreign CDNs are unreachable.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, 'node_modules');
const dist = join(here, '..', '..', 'internal', 'playground', 'dist');
const assetsDir = join(dist, 'assets');

// URL prefix of the assets, relative to the page. internal/playground serves
// dist/assets under it.
const assetPrefix = 'playground/';

// Logical name (as used in src/index.html placeholders) → source file.
const assets = {
  'react.js': join(modules, 'react', 'umd', 'react.production.min.js'),
  'react-dom.js': join(modules, 'react-dom', 'umd', 'react-dom.production.min.js'),
  'graphiql.js': join(modules, 'graphiql', 'graphiql.min.js'),
  'graphiql.css': join(modules, 'graphiql', 'graphiql.min.css'),
  'app.js': join(here, 'src', 'app.js'),
  'app.css': join(here, 'src', 'app.css'),
  'favicon.svg': join(here, 'src', 'favicon.svg'),
};

// Hosts a bundle could load code, styles or fonts from. Mentioning one in an
// error message is harmless, but as a URL it would be a request we forbid.
const cdnHosts = /(?:https?:)?\/\/(?:fonts\.googleapis\.com|fonts\.gstatic\.com|unpkg\.com|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|esm\.sh|cdn\.skypack\.dev)/;

function fail(msg) {
  console.error(`build.mjs: ${msg}`);
  process.exit(1);
}

// Source-map comments make devtools fetch a .map we do not ship; the one in
// graphiql.min.js even names a file that does not exist. Drop them.
function stripSourceMaps(text) {
  return text
    .replace(/^[ \t]*\/\/[#@] sourceMappingURL=.*$/gm, '')
    .replace(/\/\*[#@] sourceMappingURL=[^*]*\*\//g, '');
}

function checkNoExternalFetch(name, text) {
  if (/sourceMappingURL=/.test(text)) {
    fail(`${name}: sourceMappingURL left after stripping`);
  }
  if (cdnHosts.test(text)) {
    fail(`${name}: references a CDN URL (${text.match(cdnHosts)[0]})`);
  }
  if (name.endsWith('.css')) {
    if (/@import/i.test(text)) {
      fail(`${name}: @import would load another stylesheet`);
    }
    for (const m of text.matchAll(/url\(\s*(['"]?)([^'")]*)\1\s*\)/gi)) {
      const target = m[2].trim();
      if (/^(?:[a-z][a-z0-9+.-]*:|\/\/)/i.test(target) && !/^data:/i.test(target)) {
        fail(`${name}: url(${target.slice(0, 80)}) would be fetched`);
      }
    }
  }
}

function hashedName(name, content) {
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 12);
  const ext = extname(name);
  return `${basename(name, ext)}.${hash}${ext}`;
}

// Third-party notices: the MIT and similar licenses of everything installed
// require the notice to travel with the copies we serve.
function collectLicenses() {
  const lock = JSON.parse(readFileSync(join(here, 'package-lock.json'), 'utf8'));
  const parts = [
    'Third-party software in the Meridian playground, as pinned in web/playground/package-lock.json.\n',
  ];
  for (const [path, meta] of Object.entries(lock.packages).sort(([a], [b]) => a.localeCompare(b))) {
    if (path === '' || meta.dev) continue;
    const dir = join(here, path);
    if (!existsSync(dir)) continue;
    const name = path.replace(/^.*node_modules\//, '');
    const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
    parts.push('='.repeat(78));
    parts.push(`${name} ${meta.version} (${meta.license || 'see package'})`);
    parts.push('='.repeat(78));
    parts.push(file ? readFileSync(join(dir, file), 'utf8').trim() : '(no license file in the package)');
    parts.push('');
  }
  return parts.join('\n') + '\n';
}

if (!existsSync(join(modules, 'graphiql', 'package.json'))) {
  fail('node_modules missing: run `npm ci` in web/playground first (or `make playground`)');
}

// Start from an empty dist, keeping the committed placeholder, so assets of
// an older build never linger in the binary.
for (const entry of readdirSync(dist)) {
  if (entry !== '.gitkeep') rmSync(join(dist, entry), { recursive: true, force: true });
}
mkdirSync(assetsDir, { recursive: true });

const urls = {};
for (const [name, src] of Object.entries(assets)) {
  let text = readFileSync(src, 'utf8');
  if (/\.(js|css)$/.test(name)) {
    text = stripSourceMaps(text);
    checkNoExternalFetch(name, text);
  }
  const out = hashedName(name, text);
  writeFileSync(join(assetsDir, out), text);
  urls[name] = assetPrefix + out;
}

// Licenses are linked from the page but not hashed: the link stays stable
// and the handler serves unhashed files with no-cache.
writeFileSync(join(assetsDir, 'licenses.txt'), collectLicenses());
urls['licenses.txt'] = assetPrefix + 'licenses.txt';

const template = readFileSync(join(here, 'src', 'index.html'), 'utf8');
const html = template.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (whole, name) => {
  if (!(name in urls)) fail(`src/index.html: unknown asset ${whole}`);
  return urls[name];
});
writeFileSync(join(dist, 'index.html'), html);

console.log(`playground built into ${relative(process.cwd(), dist) || '.'}:`);
for (const [name, url] of Object.entries(urls)) console.log(`  ${name.padEnd(13)} ${url}`);
