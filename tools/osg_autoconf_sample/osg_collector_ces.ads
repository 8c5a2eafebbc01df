# The HTCondor-CE Schedd ads of a few OSG sites, as `condor_status -pool
# collector.opensciencegrid.org:9619 -schedd -long` prints them (trimmed to what
# OSG_autoconf reads). Sample input of tools/osg_autoconf.py.
MyType = "Scheduler"
Name = "uc-denver-ce1.svc.opensciencegrid.org"
CollectorHost = "uc-denver-ce1.svc.opensciencegrid.org:9619"
OSG_ResourceGroup = "UC-Denver"
OSG_Resource = "UC-Denver-CE1"
OSG_BatchSystems = "SLURM"
HTCondorCEVersion = "24.0.2"
OSG_ResourceCatalog = { [ Name = "alderaan"; CPUs = 8; Memory = 32000; MaxWallTime = 2880; AllowedVOs = { "osg" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ], [ Name = "alderaan-big"; CPUs = 16; Memory = 64000; MaxWallTime = 4320; AllowedVOs = { "osg", "cms" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ] }

MyType = "Scheduler"
Name = "ncsa-delta-ce1.svc.osg-htc.org"
CollectorHost = "ncsa-delta-ce1.svc.osg-htc.org:9619"
OSG_ResourceGroup = "NCSA-Delta"
OSG_Resource = "NCSA-Delta-CE1"
OSG_BatchSystems = "SLURM"
HTCondorCEVersion = "24.0.2"
OSG_ResourceCatalog = { [ Name = "gpu"; CPUs = 64; Memory = 243000; MaxWallTime = 2880; GPUs = 4; AllowedVOs = { "osg" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ] }

MyType = "Scheduler"
Name = "aei-hypatia-ce1.svc.opensciencegrid.org"
CollectorHost = "aei-hypatia-ce1.svc.opensciencegrid.org:9619"
OSG_ResourceGroup = "AEI-Hypatia"
OSG_Resource = "AEI-Hypatia-CE1"
OSG_BatchSystems = "SLURM"
HTCondorCEVersion = "24.0.2"
OSG_ResourceCatalog = { [ Name = "standard"; CPUs = 8; Memory = 24000; MaxWallTime = 2880; AllowedVOs = { "ligo" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ], [ Name = "gpu"; CPUs = 8; Memory = 24000; MaxWallTime = 2880; GPUs = 1; AllowedVOs = { "ligo" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ] }

MyType = "Scheduler"
Name = "amnh-ares-ce1.svc.opensciencegrid.org"
CollectorHost = "amnh-ares-ce1.svc.opensciencegrid.org:9619"
OSG_ResourceGroup = "AMNH"
OSG_Resource = "AMNH-ARES-CE1"
OSG_BatchSystems = "SLURM"
HTCondorCEVersion = "24.0.2"
OSG_ResourceCatalog = { [ Name = "standard"; CPUs = 4; Memory = 8000; MaxWallTime = 1440; AllowedVOs = { "osg" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ] }

MyType = "Scheduler"
Name = "amnh-hel-ce1.svc.opensciencegrid.org"
CollectorHost = "amnh-hel-ce1.svc.opensciencegrid.org:9619"
OSG_ResourceGroup = "AMNH"
OSG_Resource = "AMNH-HEL-CE1"
OSG_BatchSystems = "SLURM"
HTCondorCEVersion = "24.0.2"
OSG_ResourceCatalog = { [ Name = "standard"; CPUs = 4; Memory = 8000; MaxWallTime = 1440; AllowedVOs = { "osg" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ], [ Name = "gpu"; CPUs = 4; Memory = 16000; MaxWallTime = 1440; GPUs = 1; AllowedVOs = { "osg" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ] }

MyType = "Scheduler"
Name = "chtc-spark-ce1.svc.osg-htc.org"
CollectorHost = "chtc-spark-ce1.svc.osg-htc.org:9619"
OSG_ResourceGroup = "CHTC-Spark"
OSG_Resource = "CHTC-Spark-CE1"
OSG_BatchSystems = "SLURM"
HTCondorCEVersion = "24.0.2"
OSG_ResourceCatalog = { [ Name = "standard"; CPUs = 1; Memory = 2000; MaxWallTime = 1200; AllowedVOs = { "osg", "glow" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ], [ Name = "preempt"; CPUs = 1; Memory = 2000; MaxWallTime = 600; AllowedVOs = { "osg" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ], [ Name = "gpu"; CPUs = 4; Memory = 16000; MaxWallTime = 1200; GPUs = 2; AllowedVOs = { "osg" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ] }

MyType = "Scheduler"
Name = "hawaii-koa-ce1.svc.osg-htc.org"
CollectorHost = "hawaii-koa-ce1.svc.osg-htc.org:9619"
OSG_ResourceGroup = "Hawaii-Koa"
OSG_Resource = "Hawaii-Koa-CE1"
OSG_BatchSystems = "SLURM"
HTCondorCEVersion = "24.0.2"
OSG_ResourceCatalog = { [ Name = "standard"; CPUs = 16; Memory = 64000; MaxWallTime = 4320; AllowedVOs = { "osg" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ] }

MyType = "Scheduler"
Name = "cardiff-igwn-ce1.svc.opensciencegrid.org"
CollectorHost = "cardiff-igwn-ce1.svc.opensciencegrid.org:9619"
OSG_ResourceGroup = "CARDIFF-IGWN"
OSG_Resource = "CARDIFF-IGWN-CE1"
OSG_BatchSystems = "SLURM"
HTCondorCEVersion = "24.0.2"
OSG_ResourceCatalog = { [ Name = "standard"; CPUs = 8; Memory = 16000; MaxWallTime = 2880; AllowedVOs = { "ligo" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ] }

MyType = "Scheduler"
Name = "not-whitelisted-ce1.example.edu"
CollectorHost = "not-whitelisted-ce1.example.edu:9619"
OSG_ResourceGroup = "Not-Whitelisted"
OSG_Resource = "Not-Whitelisted-CE1"
OSG_BatchSystems = "SLURM"
HTCondorCEVersion = "24.0.2"
OSG_ResourceCatalog = { [ Name = "standard"; CPUs = 8; Memory = 16000; MaxWallTime = 2880; AllowedVOs = { "osg" }; Requirements = TARGET.RequestCpus <= CPUs && TARGET.RequestMemory <= Memory ] }
