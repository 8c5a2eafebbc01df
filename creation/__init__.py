"""Master config -> config tree, signed staging area, reconfig.

* `schema` / `xmlcheck` / `yamlform` / `config`: validate the master XML (+ `config.d/`
  fragments, or YAML) into a `MasterConfig`, or raise `ConfigInvalid` with every error.
* `tree_content`, `job_condor`, `staging`: pure builders of the work-dir files and the
  staging area (bytes in memory).
* `install`: writes them (stage first, then the work dir swapped in atomically).
* `create` / `reconfig` / `commands`: the `create_glidein` / `reconfig_glidein` commands;
  `reconfig.reconfig_tree` is the function factory_startup's `reconfig` calls.
"""
