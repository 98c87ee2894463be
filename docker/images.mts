// make images [ARCH=arm64]: builds the bastion image and the app example (on a tiny app) with podman,
// no daemon and no registry; everything is cached in /var/tmp/bastionless-images (docker/images.ts).
import { buildImages, whyPodmanCannotRun, type Arch } from "./images.ts";

const arch = (process.argv.includes("--arch") ? process.argv[process.argv.indexOf("--arch") + 1] : "amd64") as Arch;
if (arch !== "amd64" && arch !== "arm64") {
  process.stderr.write(`images: --arch ${arch}: use amd64 or arm64\n`);
  process.exit(2);
}
const say = (line: string) => process.stdout.write(`${line}\n`);
const started = Date.now();
const why = await whyPodmanCannotRun();
if (why) {
  process.stderr.write(`images: cannot build: ${why}\n`);
  process.exit(1);
}
try {
  const built = await buildImages({ arch, say });
  say(
    `Built ${built.bastion} and ${built.appExample} in ${((Date.now() - started) / 1000).toFixed(1)}s (${Object.entries(built.timings)
      .map(([step, s]) => `${step} ${s}s`)
      .join(", ")}).`,
  );
} catch (error) {
  process.stderr.write(`images: ${(error as Error).message}\n`);
  process.exit(1);
}
