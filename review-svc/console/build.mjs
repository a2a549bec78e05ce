// Builds the review console into review-svc/console/dist, which review-svc
// embeds when it is compiled: generates the client from the contract with
// buf and protoc-gen-es, checks the types, bundles with esbuild. Run from
// anywhere: `npm run build:console`.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
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

const dist = join(here, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await esbuild.build({
  entryPoints: [join(here, "src", "main.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  outfile: join(dist, "app.js"),
  logLevel: "warning",
});
for (const file of ["index.html", "app.css"]) {
  cpSync(join(here, "src", file), join(dist, file));
}
console.log(`console built into ${dist}`);
