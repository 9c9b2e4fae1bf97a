"""A real one-node Slurm cluster on this machine, for the study's tests and benchmark, and to try
`study.py --slurm` where there is no cluster: Debian's munged, slurmctld and slurmd, started in the
foreground from a minimal slurm.conf in a folder of its own, and stopped by pid. Needs root.

    python -m kit.slurm FOLDER      # starts one; prints the SLURM_CONF to export; Ctrl-C stops it

Client commands (sbatch, squeue, scancel) find it through SLURM_CONF, set in `environment`.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

DAEMONS = ('munged', 'slurmctld', 'slurmd')
CLIENTS = ('sbatch', 'squeue', 'scancel', 'sinfo')
START_SECONDS = 60   # until the node takes jobs; a machine under load can take a while


class Unavailable(Exception):
    """Slurm is not installed here, or would not start; the message says which and why."""


def find(name):
    """A daemon or client's path; daemons live in sbin, which a non-login PATH may leave out."""
    return shutil.which(name) or shutil.which(name, path='/usr/sbin:/sbin:/usr/local/sbin')


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def slurm_conf(folder, host, cpus):
    return '\n'.join([
        'ClusterName=studytest',
        'SlurmctldHost={}'.format(host),
        'SlurmUser=root',
        'SlurmdUser=root',
        'AuthType=auth/munge',
        'CredType=cred/munge',
        'AuthInfo=socket={}'.format(os.path.join(folder, 'munge.socket')),
        'SlurmctldPort={}'.format(free_port()),
        'SlurmdPort={}'.format(free_port()),
        'StateSaveLocation={}'.format(os.path.join(folder, 'state')),
        'SlurmdSpoolDir={}'.format(os.path.join(folder, 'spool')),
        'SlurmctldPidFile={}'.format(os.path.join(folder, 'slurmctld.pid')),
        'SlurmdPidFile={}'.format(os.path.join(folder, 'slurmd.pid')),
        'SlurmctldLogFile={}'.format(os.path.join(folder, 'slurmctld.log')),
        'SlurmdLogFile={}'.format(os.path.join(folder, 'slurmd.log')),
        # Slurm follows the processes by their parent pids and binds nothing: no cgroups needed.
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SelectType=select/cons_tres',     # one CPU per task, so tasks share the node
        'SelectTypeParameters=CR_CPU',
        'MpiDefault=none',
        'ReturnToService=2',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'KillWait=30',                     # seconds between SIGTERM and SIGKILL: room to save a checkpoint
        'NodeName={} CPUs={} State=UNKNOWN'.format(host, cpus),
        'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
    ]) + '\n'


class SlurmCluster(object):
    """munged, slurmctld and slurmd on this machine, for as long as the object is open."""

    def __init__(self, folder):
        self.folder = folder
        self.processes = []
        self.environment = dict(os.environ, SLURM_CONF=os.path.join(folder, 'slurm.conf'))

    def start(self):
        missing = [name for name in DAEMONS + CLIENTS if find(name) is None]
        if missing:
            raise Unavailable('Slurm is not installed ({} missing): apt-get install slurmctld slurmd slurm-client '
                              'munge (.ci/run does)'.format(', '.join(missing)))
        if os.geteuid() != 0:
            raise Unavailable('the test cluster runs its daemons as root (CI does)')
        for sub in ('state', 'spool'):
            os.makedirs(os.path.join(self.folder, sub))
        key = os.path.join(self.folder, 'munge.key')
        with open(key, 'wb') as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        with open(self.environment['SLURM_CONF'], 'w') as f:
            f.write(slurm_conf(self.folder, socket.gethostname().split('.')[0], os.cpu_count()))
        self.daemon('munged', '--foreground', '--force', '--socket', os.path.join(self.folder, 'munge.socket'),
                    '--key-file', key, '--log-file', os.path.join(self.folder, 'munged.log'),
                    '--pid-file', os.path.join(self.folder, 'munged.pid'),
                    '--seed-file', os.path.join(self.folder, 'munged.seed'))
        self.wait_for(lambda: os.path.exists(os.path.join(self.folder, 'munge.socket')), 'munged')
        self.daemon('slurmctld', '-D', '-f', self.environment['SLURM_CONF'])
        self.daemon('slurmd', '-D', '-f', self.environment['SLURM_CONF'])
        self.wait_for(self.node_idle, 'the node to take jobs')
        return self

    def daemon(self, name, *args):
        log = open(os.path.join(self.folder, name + '.out'), 'w')
        self.processes.append(subprocess.Popen([find(name)] + list(args), stdout=log, stderr=subprocess.STDOUT,
                                               env=self.environment))
        log.close()

    def wait_for(self, ready, what):
        deadline = time.time() + START_SECONDS
        while time.time() < deadline:
            dead = [p for p in self.processes if p.poll() is not None]
            if dead:
                raise Unavailable('{} exited with {} while starting: see {}'.format(
                    os.path.basename(dead[0].args[0]), dead[0].returncode, self.folder))
            if ready():
                return
            time.sleep(0.2)
        raise Unavailable('waited {} s for {}: see the logs in {}'.format(START_SECONDS, what, self.folder))

    def node_idle(self):
        done = subprocess.run([find('sinfo'), '-h', '-o', '%T'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, env=self.environment)
        return done.returncode == 0 and done.stdout.strip() == 'idle'

    def run(self, *args):
        """A client command's stdout; raises on failure."""
        return subprocess.run([find(args[0])] + list(args[1:]), stdout=subprocess.PIPE, universal_newlines=True,
                              env=self.environment, check=True).stdout

    def jobs(self):
        """Ids of the jobs still queued or running."""
        return self.run('squeue', '-h', '-o', '%i').split()

    def stop(self):
        """Cancels what is left, then stops the daemons in reverse order, by pid."""
        if self.processes and len(self.processes) == len(DAEMONS) and self.processes[1].poll() is None:
            subprocess.call([find('scancel'), '--user', 'root'], env=self.environment, stderr=subprocess.DEVNULL)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes = []


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print('usage: python -m kit.slurm FOLDER (a new or empty folder for its state and logs)', file=sys.stderr)
        return 2
    folder = os.path.abspath(argv[0])
    if os.path.isdir(folder) and os.listdir(folder):
        print('error: {} is not empty: give a new folder for the cluster\'s state'.format(folder), file=sys.stderr)
        return 2
    os.makedirs(folder, exist_ok=True)
    cluster = SlurmCluster(folder)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even where started with SIGINT ignored
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))      # stopped like Ctrl-C: through the finally below
    try:
        cluster.start()
        print('a one-node Slurm cluster runs; in another shell:\n  export SLURM_CONF={}\n'
              'then python study.py FOLDER --slurm ... as on any cluster. Ctrl-C stops it.'.format(
                  cluster.environment['SLURM_CONF']), flush=True)
        while True:
            time.sleep(3600)
    except Unavailable as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


if __name__ == '__main__':
    sys.exit(main())
