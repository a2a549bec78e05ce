// Builds the review console into review-svc/console/dist, which review-svc
// embeds when it is compiled: generates the client from the contract with
// buf and protoc-gen-es, checks the types, bundles with esbuild. Run from
// anywhere: `npm run build:console`.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const run = (command, args) =>
  execFileSync(command, args, {
    cwd: root,
    stdio: "inherit",
    // buf finds protoc-gen-es on the PATH.
    env: { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}` },
  });

run(bin("buf"), ["generate", "--template", join(here, "buf.gen.yaml")]);
run(bin("tsc"), ["-p", join(here, "tsconfig.json")]);

// Files are written only when their bytes change, so that cargo (which
// watches dist) rebuilds review-svc only when the console did change.
const dist = join(here, "dist");
mkdirSync(dist, { recursive: true });
const bundle = await esbuild.build({
  entryPoints: [join(here, "src", "main.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  outfile: join(dist, "app.js"),
  write: false,
  logLevel: "warning",
});
const outputs = new Map(bundle.outputFiles.map((file) => [basename(file.path), file.contents]));
for (const file of ["index.html", "app.css"]) {
  outputs.set(file, readFileSync(join(here, "src", file)));
}
for (const [name, bytes] of outputs) {
  const path = join(dist, name);
  if (!existsSync(path) || !Buffer.from(bytes).equals(readFileSync(path))) writeFileSync(path, bytes);
}
for (const name of readdirSync(dist)) {
  if (!outputs.has(name)) rmSync(join(dist, name), { recursive: true, force: true });
}
console.log(`console built into ${dist}`);
