#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: Apache-2.0
#
# The whole module is a client of firec-run's JSON results (firec-run(1), JSON
# RESULTS; schemas/firec-result.v1.schema.json): firec-run decides what to do
# and whether anything changed, this module only maps a task onto one command
# and its one result onto the task's.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: firec_vm
short_description: Make a Firecracker microVM run, stop or go away as a firec manifest says
version_added: 0.1.0
description:
  - Drives C(firec-run), which runs one Firecracker microVM (through its jailer)
    from a YAML manifest, through its JSON interface (C(--output json)).
  - I(state=present) runs C(firec-run apply FILE). The VM is started when it is
    absent or has ended, resumed when it is paused, changed in place when only
    fields Firecracker changes on a running VM differ (drive files and rate
    limiters, network interface rate limiters, balloon, MMDS data; the same VMM
    process), and left alone when it is as the manifest says. A change that
    only a new VM can have fails the task unless I(replace=true).
  - I(state=stopped) runs C(firec-run stop), the VM's stop policy
    (C(spec.run.stop)); its state stays on the host until I(state=absent).
  - I(state=absent) runs C(firec-run rm). The VM is stopped if it runs, and
    everything it left on the host (jail, cgroups, state) is removed.
  - Whether the task changed anything, and what it did, is what C(firec-run)
    reports; when C(firec-run) fails, the task fails with its message, its exit
    status and, for an invalid manifest, every problem with its place.
  - Needs root on the managed host, as C(firec-run) does to start VMs (use
    I(become)).
author:
  - firec contributors
requirements:
  - firec-run (the firec package) on the managed host, with its JSON results
    (format_version 1)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - I(state=present) asks C(firec-run apply --check), which says what apply
        would do and changes nothing (not even a lock file); a change that needs
        I(replace) fails in check mode too.
      - I(state=stopped) and I(state=absent) ask C(firec-run status) and report
        whether C(stop) or C(rm) would change anything. A jail left on the host
        without any state record is not seen by C(status); C(rm) removes it, but
        check mode reports no change for it.
  diff_mode:
    support: full
    details:
      - I(state=present) returns the before and after texts of
        C(firec-run apply --diff), one line per field that differs, with its
        path and its value.
      - I(state=stopped) and I(state=absent) return the VM's state before and
        after, when it changes.
  platform:
    platforms: posix
options:
  manifest:
    description:
      - Path of the VM's manifest on the managed host (YAML or JSON, as
        C(firec-run validate) accepts it). Relative host paths inside it
        resolve against its directory.
      - Required with I(state=present). With I(state=stopped) or
        I(state=absent) it names the VM (its C(metadata.name)), and C(rm)
        also removes a jail the manifest implies when no state is left.
      - Mutually exclusive with I(name).
    type: path
  name:
    description:
      - The VM's name (the manifest's C(metadata.name)), for I(state=stopped)
        and I(state=absent) without a manifest.
      - Mutually exclusive with I(manifest).
    type: str
  state:
    description:
      - With C(present), the VM runs as the manifest says.
      - With C(stopped), the VM does not run (its stop policy ran); what it
        left on the host stays until C(absent). A VM that does not exist is
        left so.
      - With C(absent), the VM does not run and nothing of it is left on the
        host.
    type: str
    choices: [present, absent, stopped]
    default: present
  replace:
    description:
      - With I(state=present), allow a change that only a new VM can have
        (memory, vCPUs, the kernel, a new drive, ...); the VM is stopped,
        removed and started again from the manifest (C(apply --replace)). The
        guest reboots.
      - Without it such a change fails the task (C(firec-run) exit status 6)
        and nothing is changed; the fields in question are in I(differences).
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for another C(firec-run) that holds the VM's lock
        (another apply, stop or rm of the same VM, or a VM being started)
        before failing (C(--lock-timeout)).
      - When not set, C(firec-run)'s own default applies (apply fails at once;
        stop waits 2 s, rm 5 s). C(0) fails at once.
    type: int
  firec_run:
    description:
      - The C(firec-run) program to run on the managed host. A bare name is
        looked up in C(PATH).
    type: path
    default: firec-run
notes:
  - The VM starts detached (as C(firec-run run -d) would), whatever the
    manifest's C(spec.run.mode); a VM run by a service manager
    (C(firec@NAME.service)) is changed through its supervising C(firec-run).
  - Environment variables C(firec-run) reads (C(FIREC_STATE_DIR), the
    variables a manifest interpolates) come from the module's environment; set
    them with the task's C(environment) keyword.
'''

EXAMPLES = r'''
- name: web-1 runs as its manifest says
  firec.firec.firec_vm:
    manifest: /etc/firec/web-1.yaml
  become: true

- name: web-1 runs as its manifest says, replaced if the change needs a new VM
  firec.firec.firec_vm:
    manifest: /etc/firec/web-1.yaml
    replace: true
    lock_timeout: 60
  become: true
  register: web1

- name: Show what was done
  ansible.builtin.debug:
    msg: "{{ web1.action }}: {{ web1.comment }} (pid {{ web1.pid }})"

- name: web-1 is stopped (its state kept for a later start or rm)
  firec.firec.firec_vm:
    name: web-1
    state: stopped
  become: true

- name: Nothing of web-1 is left on the host
  firec.firec.firec_vm:
    manifest: /etc/firec/web-1.yaml
    state: absent
  become: true

- name: A firec-run that is not in PATH, and its state directory elsewhere
  firec.firec.firec_vm:
    manifest: /srv/vms/test.yaml
    firec_run: /opt/firec/bin/firec-run
  environment:
    FIREC_STATE_DIR: /run/firec-test
  become: true
'''

RETURN = r'''
action:
  description:
    - What firec-run did, or would do in check mode, or tried to do when the
      task failed.
    - I(state=present) C(start) (absent, ended or stale; what was left is
      removed first), C(replace) (stop, remove, start), C(update) (in place, the
      same VMM), C(resume), C(none).
    - I(state=stopped) C(stop) or C(none); I(state=absent) C(remove) or
      C(none).
  returned: always
  type: str
  sample: update
name:
  description: The VM's name (C(metadata.name)); null when the manifest could not be read.
  returned: always
  type: str
  sample: web-1
comment:
  description: What was done, in words ("started", "updated in place", "already as wanted", "stopped", "nothing to remove").
  returned: success
  type: str
  sample: already as wanted
state:
  description:
    - The VM's state afterwards (I(state=present); in check mode, as it is
      now), one of C(absent), C(starting), C(running), C(paused), C(exited),
      C(stale) or C(damaged).
  returned: when I(state=present), and in check mode
  type: str
  sample: running
pid:
  description:
    - Firecracker's pid afterwards (the same pid after an in-place update), or
      null when none runs.
  returned: when I(state=present), and in check mode
  type: int
  sample: 4242
api_socket:
  description: The host path of the VM's API socket, or null.
  returned: when I(state=present)
  type: str
  sample: /srv/jailer/firecracker/web-1/root/run/firecracker.socket
differences:
  description:
    - Every difference between the manifest and the VM as it runs, sorted by
      path; empty when it is as wanted.
  returned: when I(state=present) (also when the task failed because the change needs I(replace))
  type: list
  elements: dict
  contains:
    path:
      description: The field's JSON pointer in the manifest, C(/status/state) for the VM's state, or "" when only digests could be compared.
      type: str
      sample: /spec/machine-config/mem_size_mib
    wanted:
      description: The manifest's value (null, absent).
      type: raw
      sample: 256
    actual:
      description: The VM's value (null, absent).
      type: raw
      sample: 128
    reconcile:
      description: How apply reconciles it, C(live) (in place), C(restart) (needs I(replace)) or C(state) (start, resume).
      type: str
      sample: restart
    source:
      description: Where the actual value was seen, C(manifest), C(vm/config), C(mmds), C(vm) or C(record).
      type: str
      sample: manifest
    note:
      description: Why it is classed so, when that needs saying.
      type: str
      returned: sometimes
  sample:
    - path: /spec/machine-config/mem_size_mib
      wanted: 256
      actual: 128
      reconcile: restart
      source: manifest
result:
  description:
    - C(firec-run)'s result object, as it printed it (C(apply), C(stop) or
      C(rm); C(status) for I(state=stopped) and I(state=absent) in check mode).
      firec-run(1) describes every member.
  returned: always, unless firec-run could not be run or printed no result
  type: dict
  sample:
    format_version: 1
    command: apply
    changed: true
    action: update
    name: web-1
    error: null
    check: false
    diff: []
    state: running
    pid: 4242
    api_socket: /srv/jailer/firecracker/web-1/root/run/firecracker.socket
    comment: updated in place
rc:
  description: C(firec-run)'s exit status (1 runtime failure, 2 invalid manifest or usage, 3 host precondition, 4 locked, 5 leftovers, 6 the change needs I(replace)).
  returned: failure
  type: int
  sample: 6
diagnostics:
  description: An invalid manifest's problems, each at its place.
  returned: failure
  type: list
  elements: dict
  contains:
    severity:
      description: C(error) or C(warning).
      type: str
    file:
      description: The manifest file.
      type: str
    line:
      description: 1-based line (0 when the problem has no place).
      type: int
    column:
      description: 1-based column.
      type: int
    path:
      description: The field's JSON pointer ("" for the document).
      type: str
    message:
      description: The problem.
      type: str
  sample:
    - severity: error
      file: /etc/firec/web-1.yaml
      line: 12
      column: 18
      path: /spec/machine-config/vcpu_count
      message: expected integer, got string "many"
cmd:
  description: The command that ran, as an argument list.
  returned: always, unless firec-run was not found
  type: list
  elements: str
  sample: [firec-run, apply, --output, json, --, /etc/firec/web-1.yaml]
stderr:
  description: What C(firec-run) wrote on standard error (its messages for people).
  returned: failure
  type: str
'''

import json

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = dict(
    manifest=dict(type='path'),
    name=dict(type='str'),
    state=dict(type='str', default='present', choices=['present', 'absent', 'stopped']),
    replace=dict(type='bool', default=False),
    lock_timeout=dict(type='int'),
    firec_run=dict(type='path', default='firec-run'),
)

# The result format this module reads (firec-result.v1.schema.json).
FORMAT_VERSION = 1
# The exit statuses that are answers rather than failures: status says 1 when
# the VM does not run (firec-run(1), EXIT STATUS).
ANSWERS = {'status': (0, 1)}


class FirecRun(object):
    """Runs firec-run commands with --output json and reads their one result."""

    def __init__(self, module):
        self.module = module
        binary = module.params['firec_run']
        if '/' not in binary:
            binary = module.get_bin_path(binary, required=True)
        self.binary = binary

    def run(self, command, options, target):
        argv = [self.binary, command, '--output', 'json'] + options + ['--', target]
        # An argument list, never a shell; paths are used as they are (no $VAR
        # or ~ expansion of a manifest's path beyond what the option type did).
        rc, out, err = self.module.run_command(argv, check_rc=False, expand_user_and_vars=False)
        result = self.parse(argv, rc, out, err)
        error = result.get('error')
        if error is None and rc not in ANSWERS.get(command, (0,)):
            self.module.fail_json(msg='%s %s exited %d without saying why in its result' % (self.binary, command, rc),
                                  rc=rc, cmd=argv, stderr=err, result=result)
        if error is not None:
            self.fail(argv, rc, err, result)
        return argv, result

    def parse(self, argv, rc, out, err):
        try:
            result = json.loads(out)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            said = err.strip() or out.strip() or 'nothing'
            self.module.fail_json(msg='%s %s printed no JSON result (exit status %d); it said: %s'
                                  % (self.binary, argv[1], rc, said), rc=rc, cmd=argv, stdout=out, stderr=err)
        if result.get('format_version') != FORMAT_VERSION:
            self.module.fail_json(msg='%s prints results of format_version %r; this module reads %d'
                                  % (self.binary, result.get('format_version'), FORMAT_VERSION),
                                  rc=rc, cmd=argv, stderr=err, result=result)
        return result

    def fail(self, argv, rc, err, result):
        error = result['error']
        code = error.get('exit_code', rc)
        diagnostics = error.get('diagnostics') or []
        msg = failure_message(self.module, argv[1], code, error.get('message') or 'failed', result)
        msg += ''.join('\n' + format_diagnostic(d) for d in diagnostics)
        extra = dict(msg=msg, rc=rc, cmd=argv, stderr=err, result=result, diagnostics=diagnostics,
                     changed=bool(result.get('changed')), action=result.get('action'), name=result.get('name'))
        if 'diff' in result:
            extra['differences'] = result['diff']
        diff = before_after(self.module, result)
        if diff:
            extra['diff'] = diff
        self.module.fail_json(**extra)


def failure_message(module, command, code, message, result):
    if code == 6:
        # Exit 6 is apply's refusal, not a failure of the VM: say what to do
        # in the module's terms, with the fields that need the new VM.
        restart = ['%s: %s -> %s' % (d.get('path'), json.dumps(d.get('actual')), json.dumps(d.get('wanted')))
                   for d in result.get('diff', []) if d.get('reconcile') == 'restart']
        return ('%s: this change needs a new VM (%s); nothing was changed. Set replace: true to stop the VM '
                'and start a new one from the manifest (the guest reboots).'
                % (result.get('name') or 'the VM', ', '.join(restart) or message))
    text = 'firec-run %s failed (exit %d): %s' % (command, code, message)
    if code == 4 and module.params['lock_timeout'] is None:
        text += ' (lock_timeout: SECONDS waits for it)'
    return text


def format_diagnostic(d):
    """One problem as firec-run prints it on stderr: FILE:LINE:COLUMN: SEVERITY: PATH: MESSAGE."""
    return '%s:%s:%s: %s: %s: %s' % (d.get('file'), d.get('line'), d.get('column'), d.get('severity', 'error'),
                                     d.get('path') or '/', d.get('message'))


def before_after(module, result):
    """apply --diff's texts, as Ansible's diff return value wants them."""
    texts = result.get('before_after')
    if not module._diff or not isinstance(texts, dict):
        return None
    return dict((k, texts.get(k, '')) for k in ('before_header', 'after_header', 'before', 'after'))


def lock_options(module):
    timeout = module.params['lock_timeout']
    return [] if timeout is None else ['--lock-timeout', str(timeout)]


def present(module, firec):
    options = []
    if module.check_mode:
        options.append('--check')
    if module._diff:
        options.append('--diff')
    if module.params['replace']:
        options.append('--replace')
    argv, result = firec.run('apply', options + lock_options(module), module.params['manifest'])
    out = outcome(argv, result, result.get('changed'), result.get('action'), result.get('comment'))
    for key in ('state', 'pid', 'api_socket'):
        out[key] = result.get(key)
    out['differences'] = result.get('diff', [])
    diff = before_after(module, result)
    if diff:
        out['diff'] = diff
    return out


def stopped_or_absent(module, firec, target):
    state = module.params['state']
    command, action = ('stop', 'stop') if state == 'stopped' else ('rm', 'remove')
    before = None
    if module.check_mode or module._diff:
        # stop and rm have no --check: status says what they would act on, as
        # they decide it themselves (src/cmd-stop.c, src/cmd-rm.c).
        argv, before = firec.run('status', [], target)
        if module.check_mode:
            would = would_change(module, state, argv, before)
            comment = ('would %s it' % action) if would else \
                ('was not running' if state == 'stopped' else 'nothing to remove')
            out = outcome(argv, before, would, action if would else 'none', comment)
            out['state'] = before.get('state')
            out['pid'] = before.get('pid')
            return with_state_diff(module, out, before, state)
    argv, result = firec.run(command, lock_options(module), target)
    out = outcome(argv, result, result.get('changed'), result.get('action'), result.get('comment'))
    return with_state_diff(module, out, before, state)


def would_change(module, state, argv, status):
    """Whether stop or rm would change something, decided as they do: stop acts
    on a VM whose VMM is alive (status has its pid) or that a firec-run holds
    (firec_pid); rm on anything status sees."""
    vm_state = status.get('state')
    if state == 'absent':
        return vm_state != 'absent'
    if vm_state == 'damaged':
        module.fail_json(msg='firec-run stop would fail: %s (state=absent removes it)' % status.get('detail'),
                         cmd=argv, result=status, name=status.get('name'), action='stop', changed=False)
    return status.get('pid') is not None or 'firec_pid' in status


def with_state_diff(module, out, before, state):
    """Diff mode of stopped and absent: the VM's state, when it changes."""
    if module._diff and before is not None and out['changed']:
        out['diff'] = dict(before_header=out['name'] or '', after_header=out['name'] or '',
                           before='state: %s\n' % before.get('state'), after='state: %s\n' % state)
    return out


def outcome(argv, result, changed, action, comment):
    return dict(changed=bool(changed), action=action or 'none', name=result.get('name'), comment=comment or '',
                result=result, cmd=argv)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[('state', 'present', ('manifest',))],
        required_one_of=[('manifest', 'name')],
        mutually_exclusive=[('manifest', 'name')],
        supports_check_mode=True,
    )
    timeout = module.params['lock_timeout']
    if timeout is not None and timeout < 0:
        module.fail_json(msg='lock_timeout must be 0 or more seconds, not %d' % timeout)
    if module.params['replace'] and module.params['state'] != 'present':
        module.warn('replace is used with state=present only')
    firec = FirecRun(module)
    if module.params['state'] == 'present':
        module.exit_json(**present(module, firec))
    target = module.params['manifest'] or module.params['name']
    module.exit_json(**stopped_or_absent(module, firec, target))


if __name__ == '__main__':
    main()
