// Copy the front-end files the staff app needs from node_modules into
// src/dangol/web/assets_build/lib/ (git-ignored), where Django's staticfiles finds them.
// Nothing here is committed: `npm install && npm run build` recreates it from the lock file.
// Cache-busting is WhiteNoise's job (CompressedManifestStaticFilesStorage at collectstatic).
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const modules = join(root, "node_modules");
const out = join(root, "src", "dangol", "web", "assets_build", "lib");

// [package-relative source, destination under lib/]. A source map is copied with its file
// (the manifest storage follows sourceMappingURL comments and fails if the map is missing).
const FILES = [
  ["@tabler/core/dist/css/tabler.min.css", "tabler/tabler.min.css"],
  ["@tabler/core/dist/js/tabler.min.js", "tabler/tabler.min.js"],
  ["htmx.org/dist/htmx.min.js", "htmx/htmx.min.js"],
  ["htmx.org/LICENSE", "htmx/LICENSE"],
  ["alpinejs/dist/cdn.min.js", "alpinejs/alpine.min.js"],
  ["echarts/dist/echarts.min.js", "echarts/echarts.min.js"],
  ["echarts/LICENSE", "echarts/LICENSE"],
  ["sortablejs/Sortable.min.js", "sortablejs/Sortable.min.js"],
  ["sortablejs/LICENSE", "sortablejs/LICENSE"],
  ["pretendard/dist/web/variable/pretendardvariable-dynamic-subset.css", "pretendard/pretendard.css"],
  ["pretendard/dist/web/variable/woff2-dynamic-subset", "pretendard/woff2-dynamic-subset"],
  ["pretendard/dist/LICENSE.txt", "pretendard/LICENSE.txt"],
];

function copy(src, dest) {
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(src, dest, { recursive: true });
}

rmSync(out, { recursive: true, force: true });
const missing = [];
for (const [from, to] of FILES) {
  const src = join(modules, from);
  if (!existsSync(src)) {
    missing.push(from);
    continue;
  }
  copy(src, join(out, to));
  if (existsSync(`${src}.map`)) copy(`${src}.map`, join(out, `${to}.map`));
}
if (missing.length) {
  console.error(`build-assets: missing in node_modules (run \`npm install\`):\n  ${missing.join("\n  ")}`);
  process.exit(1);
}
writeFileSync(join(out, "README.txt"), "Built by `npm run build` from node_modules. Do not edit or commit.\n");
console.log(`build-assets: ${FILES.length} entries copied to ${out}`);
