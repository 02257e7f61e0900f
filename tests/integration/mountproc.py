# SPDX-License-Identifier: MIT
"""mountproc.py - what the standalone mounts (mounthelp.Mount) and the
cluster-mode mounts (clusterhelp.ClusterMount) share: one pcachefs process
in the foreground, its pid, paths below its mount point, its log file, the
kill by pid and the checked stop.

Its own module, with no side effects on import: importing mounthelp.py
installs its SIGTERM/SIGINT handlers, which clusterhelp.py leaves to the
first mount that starts. The methods that need mounthelp's functions
import it when called: by then a mount has started, so it is imported.
"""
import os
import subprocess


class LazyUnmount:
    """emergency() (mounthelp.register): kill(), then fusermount3 -u -z
    of self.mnt."""

    def emergency(self):
        self.kill()
        subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                       capture_output=True, timeout=10)


class MountProcess(LazyUnmount):
    """Base of a mount class; the class sets self.mnt, self.log_path and
    self.proc (the Popen of pcachefs, None while it does not run)."""

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=4000):
        return self.log_text()[-n:]

    def kill(self):
        """Watchdog: SIGKILL by pid, at once (aborts the FUSE connection:
        calls stuck in the mount return)."""
        if self.proc and self.proc.poll() is None:
            self.killed = True
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass

    def unmount_and_wait(self, timeout):
        """The first half of stop(): unmounts (fusermount3 -u, then -z),
        waits for the process, kills it by pid after timeout seconds (also
        on an exception). Returns (exit status, problems: a list)."""
        import mounthelp as mh
        problems = []
        try:
            if mh.mounted(self.mnt) and not mh.fusermount_u(self.mnt):
                problems.append("fusermount3 -u failed: lazy unmount")
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                problems.append("pcachefs (pid %d) still running %d s after "
                                "the unmount: killed" % (self.proc.pid,
                                                         timeout))
        finally:
            if self.proc.poll() is None:
                mh.kill_pid(self.proc.pid)
                self.proc.wait()
        return self.proc.returncode, problems

    def stopped(self, rc, problems, check):
        """The second half of stop(), the process gone with status rc: no
        more self.proc, unregistered; a sanitizer report in the log or a
        non-zero exit status (unless kill() ended it) is one more problem.
        With check, problems raise AssertionError. Returns rc."""
        import mounthelp as mh
        self.proc = None
        mh.unregister(self)
        rep = mh.sanitizer_report(self.log_text())
        if rep:
            problems.append("sanitizer report in pcachefs' log:\n" + rep)
        if rc != 0 and not problems and not getattr(self, "killed", False):
            problems.append("pcachefs exited with status %s after the "
                            "unmount" % rc)
        if problems and check:
            raise AssertionError("\n".join(problems) + "\n--- log tail (%s):"
                                 "\n%s" % (self.log_path, self.log_tail()))
        return rc
