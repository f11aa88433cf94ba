"""Filters: what the scrape jobs (monitoring_jobs) mean for the hosts. The
role's vars/main.yml calls them; the stack's wiring
(playbooks/filter_plugins/stack_wiring.py, the firewall's openings and
preflight's checks) imports the same functions, so that each rule has one
implementation."""


def monitoring_host_exporters(jobs, groups):
    """The exporters a host in `groups` runs: those of the jobs that name one
    of its groups (or `all`), each once, in the jobs' order."""
    mine = set(groups) | {"all"}
    exporters = []
    for job in jobs:
        if mine.intersection(job["groups"]) and job["exporter"] not in exporters:
            exporters.append(job["exporter"])
    return exporters


def monitoring_job_groups(jobs):
    """Every group the jobs name: those they scrape and those they probe."""
    named = []
    for job in jobs:
        for group in list(job["groups"]) + list(job.get("probe_groups") or []):
            if group not in named:
                named.append(group)
    return named


class FilterModule:
    def filters(self):
        return {
            "monitoring_host_exporters": monitoring_host_exporters,
            "monitoring_job_groups": monitoring_job_groups,
        }
