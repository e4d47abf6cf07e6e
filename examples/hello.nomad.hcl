# SPDX-License-Identifier: Apache-2.0
# A Nomad job that runs the VM of examples/hello.yaml with firec-run:
#   nomad job run hello.nomad.hcl
#
# What it assumes:
# - The raw_exec driver is enabled on the clients (plugin "raw_exec" { config {
#   enabled = true } }) and the Nomad client runs as root: raw_exec runs the
#   task as the client's user, and firec-run needs root for the jailer.
# - firec-run is installed in /usr/local/bin, Firecracker and its jailer in
#   PATH (or named in the manifest), /dev/kvm exists, on every client the job
#   may land on (the constraint below only checks for Linux).
# - The manifest and the files it names are on the client: here
#   /etc/firec/hello.yaml, with vmlinux and initrd.cpio.gz beside it (relative
#   paths resolve against the manifest's directory).
# - The manifest keeps run.mode: attached (the default): firec-run stays in the
#   foreground for the whole life of the VM and exits when it ends, as Nomad
#   expects of a task; the guest console goes to the task's stdout log.
# - One allocation per VM: metadata.name is the lock, a second run of the
#   same VM exits 4.
job "firec-hello" {
  type = "service"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "vm" {
    count = 1

    # A VM that ended with an error (firec-run exit 1) is started again a few
    # times; exit 2 (invalid manifest) or 3 (host precondition) would only
    # fail the same way, which the attempts below keep short.
    restart {
      attempts = 3
      interval = "5m"
      delay    = "10s"
      mode     = "fail"
    }

    task "firec-run" {
      driver = "raw_exec"

      config {
        command = "/usr/local/bin/firec-run"
        args    = ["run", "/etc/firec/hello.yaml"]
      }

      # Stopping the allocation signals firec-run alone, which runs the VM's
      # stop policy (spec.run.stop: Ctrl+Alt+Del, then SIGKILL) and removes the
      # jail, cgroups and state. firec-run treats SIGINT (Nomad's default) the
      # same way; SIGTERM is what other supervisors send.
      kill_signal = "SIGTERM"
      # Longer than spec.run.stop_timeout (30 s by default), firec-run's bound
      # on the whole stop policy, plus the teardown. Nomad sends SIGKILL after
      # it; `firec-run rm hello` then removes what is left. The clients'
      # max_kill_timeout (30 s by default) caps it: raise that too.
      kill_timeout = "45s"

      # Nomad may put raw_exec tasks in a cgroup with these limits, and
      # Firecracker starts inside it: memory must cover the guest's
      # machine-config.mem_size_mib (128) and Firecracker's own overhead, unless
      # spec.jailer.cgroups moves Firecracker to a cgroup of its own.
      resources {
        cpu    = 1000
        memory = 256
      }
    }
  }
}
