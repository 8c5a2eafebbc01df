"""Master config -> config tree, signed staging area, reconfig.

* `schema` / `xmlcheck` / `yamlform` / `config`: validate the master XML (+ `config.d/`
  fragments, or YAML) into a `MasterConfig`, or raise `ConfigInvalid` with every error;
  what upstream accepts but may be a mistake is in `MasterConfig.warnings`.
* `merge`: `config.d/` fragments merged as upstream does (later files replace by key);
  `section_readers`, `entry_sets`, `expand` (attribute expansion), `generated_attrs`
  (what upstream adds on its own) build the model's records.
* `tree_content`, `job_condor`, `staging`: pure builders of the work-dir files and the
  staging area (bytes in memory).
* `install`: writes them (stage first, then the work dir swapped in atomically).
* `create` / `reconfig` / `commands`: the `create_glidein` / `reconfig_glidein` commands;
  `reconfig.reconfig_tree` is the function factory_startup's `reconfig` calls.
"""
