-- obshell's metadata tables in database ocs, in the order its "Migrate table"
-- stage AutoMigrates them: the CREATE TABLE statements that GORM's MySQL
-- dialect generates from obshell's GORM models (singular table names), with
-- IF NOT EXISTS and the database added and one definition per line. Keep
-- every column definition and key exactly as GORM writes it, so that a real
-- obshell that later works on the cluster finds its own schema (and its
-- AutoMigrate finds nothing to change). testdata/ocs-schema.golden
-- describes the result; the tests compare this file and the tables the
-- simulator holds after an init with it.

CREATE TABLE IF NOT EXISTS `ocs`.`all_agent` (
  `ip` varchar(64) NOT NULL,
  `port` bigint(20) NOT NULL,
  `identity` varchar(64) NOT NULL,
  `version` varchar(64) NOT NULL,
  `os` varchar(64) NOT NULL,
  `architecture` varchar(64) NOT NULL,
  `zone` varchar(64) NOT NULL,
  `mysql_port` bigint(20),
  `rpc_port` bigint(20),
  `home_path` text,
  `public_key` text,
  PRIMARY KEY (`ip`,`port`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`task_maintainer` (
  `id` bigint AUTO_INCREMENT,
  `agent_ip` varchar(64),
  `agent_port` bigint(20),
  `counter` bigint,
  `agent_time` bigint,
  `active_time` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`dag_instance` (
  `id` bigint AUTO_INCREMENT NOT NULL,
  `name` varchar(128) NOT NULL,
  `type` varchar(128) NOT NULL,
  `stage` bigint NOT NULL,
  `max_stage` bigint NOT NULL,
  `state` bigint NOT NULL,
  `executer_agent_ip` varchar(64) NOT NULL,
  `executer_agent_port` bigint NOT NULL,
  `is_maintenance` boolean NOT NULL,
  `maintenance_type` bigint NOT NULL DEFAULT 1,
  `maintenance_key` varchar(128) DEFAULT '',
  `is_finished` boolean NOT NULL,
  `context` text,
  `operator` bigint NOT NULL,
  `start_time` TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6),
  `end_time` TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6),
  `gmt_create` TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  `gmt_modify` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`node_instance` (
  `id` bigint AUTO_INCREMENT NOT NULL,
  `name` varchar(64) NOT NULL,
  `dag_id` bigint NOT NULL,
  `dag_stage` bigint NOT NULL,
  `struct_name` varchar(128),
  `type` varchar(128) NOT NULL,
  `state` bigint NOT NULL,
  `max_stage` bigint NOT NULL,
  `executer_agent_ip` varchar(64) NOT NULL,
  `executer_agent_port` bigint NOT NULL,
  `context` text,
  `operator` bigint NOT NULL,
  `start_time` TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6),
  `end_time` TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6),
  `gmt_create` TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  `gmt_modify` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  INDEX `idx_dag_stage` (`dag_id`,`dag_stage`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`subtask_instance` (
  `id` bigint AUTO_INCREMENT NOT NULL,
  `node_id` bigint NOT NULL,
  `name` varchar(64) NOT NULL,
  `struct_name` varchar(128),
  `executer_agent_ip` varchar(64) NOT NULL,
  `executer_agent_port` bigint NOT NULL,
  `execute_times` bigint DEFAULT 0,
  `can_cancel` boolean DEFAULT false,
  `can_continue` boolean DEFAULT false,
  `can_pass` boolean DEFAULT false,
  `can_retry` boolean DEFAULT false,
  `can_rollback` boolean DEFAULT false,
  `context` text,
  `state` bigint NOT NULL,
  `operator` bigint NOT NULL,
  `start_time` TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6),
  `end_time` TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6),
  `gmt_create` TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  `gmt_modify` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  INDEX `idx_node_id` (`node_id`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`sub_task_log` (
  `id` bigint AUTO_INCREMENT NOT NULL,
  `sub_task_id` bigint NOT NULL,
  `execute_times` bigint NOT NULL,
  `log_content` text,
  `create_time` TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  `update_time` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`upgrade_pkg_info` (
  `pkg_id` bigint AUTO_INCREMENT NOT NULL,
  `name` varchar(128) NOT NULL,
  `version` varchar(128) NOT NULL,
  `release_distribution` varchar(128) NOT NULL,
  `distribution` varchar(128) NOT NULL,
  `release` varchar(128) NOT NULL,
  `architecture` varchar(128) NOT NULL,
  `size` bigint unsigned NOT NULL,
  `payload_size` bigint unsigned NOT NULL,
  `chunk_count` bigint NOT NULL,
  `md5` varchar(128) NOT NULL,
  `upgrade_dep_yaml` longtext,
  `gmt_modify` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`pkg_id`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`upgrade_pkg_chunk` (
  `pkg_id` bigint NOT NULL,
  `chunk_id` bigint NOT NULL,
  `chunk_count` bigint NOT NULL,
  `chunk` MEDIUMBLOB NOT NULL,
  PRIMARY KEY (`pkg_id`,`chunk_id`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`cluster_status` (
  `id` bigint,
  `status` bigint,
  PRIMARY KEY (`id`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`partial_maintenance` (
  `id` bigint AUTO_INCREMENT NOT NULL,
  `lock_type` bigint NOT NULL,
  `lock_name` varchar(64) NOT NULL,
  `dag_id` bigint NOT NULL,
  `count` bigint DEFAULT 0,
  `gmt_locked` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  `gmt_create` TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  `gmt_modify` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  UNIQUE INDEX `idx_lock_type_name` (`lock_type`,`lock_name`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`agent_binary_info` (
  `bin_id` bigint AUTO_INCREMENT NOT NULL,
  `version` varchar(128) NOT NULL,
  `architecture` varchar(128) NOT NULL,
  `distribution` varchar(128) NOT NULL,
  `chunk_count` bigint NOT NULL,
  `gmt_create` TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  `gmt_modify` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`bin_id`),
  UNIQUE INDEX `ver_arch_dest` (`version`,`architecture`,`distribution`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`agent_binary_chunk` (
  `bin_id` bigint NOT NULL,
  `chunk_id` bigint NOT NULL,
  `chunk_count` bigint NOT NULL,
  `chunk` MEDIUMBLOB NOT NULL,
  PRIMARY KEY (`bin_id`,`chunk_id`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`ocs_config` (
  `name` varchar(128) NOT NULL,
  `value` text NOT NULL,
  `gmt_modified` datetime(3) NULL,
  `info` longtext,
  PRIMARY KEY (`name`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`inspection_report` (
  `id` bigint AUTO_INCREMENT NOT NULL,
  `start_time` datetime(3) NOT NULL,
  `finish_time` datetime(3) NOT NULL,
  `critical_count` bigint DEFAULT 0,
  `fail_count` bigint DEFAULT 0,
  `warning_count` bigint DEFAULT 0,
  `pass_count` bigint DEFAULT 0,
  `scenario` varchar(128) NOT NULL,
  `report` text NOT NULL,
  `local_task_id` varchar(128) DEFAULT '',
  `status` varchar(32) DEFAULT '',
  `error_message` text,
  PRIMARY KEY (`id`)
);

CREATE TABLE IF NOT EXISTS `ocs`.`profile_credential` (
  `id` bigint(20) AUTO_INCREMENT NOT NULL,
  `access_target` varchar(64) NOT NULL,
  `name` varchar(64) NOT NULL,
  `secret` varchar(65536) NOT NULL,
  `deleted` tinyint(1) NOT NULL DEFAULT false,
  `description` varchar(256),
  `create_time` datetime DEFAULT CURRENT_TIMESTAMP,
  `update_time` datetime DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`)
);
