"""Differential-test oracle: resolve an environment file with MaestroNG 0.8.3.

Run with the Python of the oracle virtualenv (see scripts/oracle-venv):

    python mng_oracle.py FILE

Prints one JSON document on stdout, in the shape of the `containers` part of
`maestro dump`, restricted to the fields the differential tests compare:

    {"containers": {NAME: {"service": ..., "ship": ..., "image": ...,
                           "env": {KEY: "value" or null},
                           "ports": {PORT: {"exposed": "53/udp",
                                            "external_ip": "0.0.0.0",
                                            "external": "5353/udp"}},
                           "volumes": [{"host": H, "target": T, "mode": M}]}}}

When MaestroNG fails to load the file, prints {"error": "Class: message"} and
exits with status 3.
"""

import json
import sys

# Imported outside of the error handling below: a broken virtualenv must not
# look like MaestroNG rejecting the environment file.
from docker.utils.utils import format_environment
from maestro import loader
from maestro.maestro import Conductor


def env_strings(env):
    """The environment exactly as docker-py would send it to the engine."""
    result = {}
    for entry in format_environment(env):
        if '=' in entry:
            key, value = entry.split('=', 1)
            result[key] = value
        else:
            result[entry] = None
    return result


def port_specs(ports):
    result = {}
    for name, spec in ports.items():
        ip, external = spec['external'][0], spec['external'][1]
        result[str(name)] = {
            'exposed': spec['exposed'],
            'external_ip': ip if isinstance(ip, str) else str(ip),
            'external': external,
        }
    return result


def volume_list(volumes):
    result = []
    for host, binding in volumes.items():
        mode = binding.get('mode')
        if mode is None:
            # Schema 1 bindings carry a boolean 'ro' instead of a mode.
            mode = 'ro' if binding.get('ro') else 'rw'
        result.append({'host': host, 'target': binding['bind'], 'mode': mode})
    result.sort(key=lambda v: (v['target'], v['host']))
    return result


def resolve(filename):
    conductor = Conductor(loader.load(filename))
    containers = {}
    for name, container in conductor.containers.items():
        containers[name] = {
            'service': container.service.name,
            'ship': container.ship.name,
            'image': container.image,
            'env': env_strings(container.env),
            'ports': port_specs(container.ports),
            'volumes': volume_list(container.volumes),
        }
    return {'containers': containers}


def main(argv):
    if len(argv) != 2:
        sys.stderr.write('usage: {} FILE\n'.format(argv[0]))
        return 2
    try:
        result = resolve(argv[1])
    except Exception as e:  # any failure of MaestroNG, including its crashes
        print(json.dumps({'error': '{}: {}'.format(type(e).__name__, e)}))
        return 3
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
