/**
 * The lock stolon's keeper holds on <data-dir>/lock: an fcntl (F_SETLK) write lock on the whole
 * file, as Go's syscall.FcntlFlock takes it. Taken here by a perl child (perl is in every Debian
 * base), which holds it until released or killed.
 */
const LOCK = 'use Fcntl; open(my $f, ">>", $ARGV[0]) or die; fcntl($f, F_SETLK, pack("s s x4 q q l x4", F_WRLCK, SEEK_SET, 0, 0, 0)) or exit 3;';

/** Holds stolon's kind of lock on `path` until release(). @throws when the lock is taken */
export async function holdFcntlLock(path: string): Promise<{ release(): Promise<void> }> {
  const p = Bun.spawn(["perl", "-e", `${LOCK} $| = 1; print "locked\\n"; <STDIN>;`, path], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const first = await p.stdout.getReader().read();
  if (new TextDecoder().decode(first.value) !== "locked\n") throw new Error(`cannot take an fcntl lock on ${path} (perl exited with ${await p.exited})`);
  return {
    async release() {
      p.stdin.end();
      await p.exited;
    },
  };
}

/** Whether stolon's keeper could take its lock on `path` now. */
export function fcntlLockFree(path: string): boolean {
  return Bun.spawnSync(["perl", "-e", `${LOCK} exit 0;`, path]).exitCode === 0;
}
