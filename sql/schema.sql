-- TeamTalk schema for teamtalk-rs.
--
-- Tables, columns, types, defaults, character sets and indexes match the original
-- distribution's schema (ttopen.sql) as MariaDB reports it, so a database created by the
-- original loads unchanged and either server generation can run against it. IMTransmitFile
-- is added: the original code queries it for offline files but never created it.
--
-- Every statement is CREATE TABLE IF NOT EXISTS: loading this file again never drops or
-- alters existing data. There is no CREATE DATABASE/USE here on purpose; the loader
-- (scripts/services.sh, the test fixtures) chooses the database.
--
-- Each table names its own character set because the original mixes them: most tables are
-- utf8mb4_bin, while IMAdmin, IMGroupMember, IMRecentSession and IMRelationShip stay in
-- utf8mb3 as the original left them. All times are Unix seconds.

-- PHP back-office accounts; the servers never read this table.
CREATE TABLE IF NOT EXISTS `IMAdmin` (
  `id` mediumint(6) unsigned NOT NULL AUTO_INCREMENT,
  `uname` varchar(40) NOT NULL,
  `pwd` char(32) NOT NULL,
  `status` tinyint(2) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- Audio message metadata. A message row whose type is audio stores this
-- table's id (in decimal) as its content; path is the msfs download URL.
CREATE TABLE IF NOT EXISTS `IMAudio` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `path` varchar(255) DEFAULT '',
  `size` int(11) unsigned NOT NULL DEFAULT 0,
  `duration` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_fromId_toId` (`fromId`,`toId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Departments. updated drives the clients' incremental department sync.
CREATE TABLE IF NOT EXISTS `IMDepart` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `departName` varchar(64) NOT NULL DEFAULT '',
  `priority` int(11) unsigned NOT NULL DEFAULT 0,
  `parentId` int(11) unsigned NOT NULL,
  `status` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_departName` (`departName`),
  KEY `idx_priority_status` (`priority`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Links served by the PHP discovery API; the servers never read this table.
CREATE TABLE IF NOT EXISTS `IMDiscovery` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `itemName` varchar(64) NOT NULL DEFAULT '',
  `itemUrl` varchar(64) NOT NULL DEFAULT '',
  `itemPriority` int(11) unsigned NOT NULL,
  `status` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_itemName` (`itemName`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Groups. status defaults to 1 (deleted) as in the original; the server inserts 0.
-- version is bumped on every member change, lastChated feeds the sync centre.
CREATE TABLE IF NOT EXISTS `IMGroup` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(256) NOT NULL DEFAULT '',
  `avatar` varchar(256) NOT NULL DEFAULT '',
  `creator` int(11) unsigned NOT NULL DEFAULT 0,
  `type` tinyint(3) unsigned NOT NULL DEFAULT 1,
  `userCnt` int(11) unsigned NOT NULL DEFAULT 0,
  `status` tinyint(3) unsigned NOT NULL DEFAULT 1,
  `version` int(11) unsigned NOT NULL DEFAULT 1,
  `lastChated` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_name` (`name`(191)),
  KEY `idx_creator` (`creator`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Group membership, mirrored from Redis (group_member_<groupId> is
-- authoritative at runtime). status defaults to 1 (left); the server inserts 0.
-- The original keeps this table in utf8mb3.
CREATE TABLE IF NOT EXISTS `IMGroupMember` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `status` tinyint(4) unsigned NOT NULL DEFAULT 1,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_groupId_userId_status` (`groupId`,`userId`,`status`),
  KEY `idx_userId_status_updated` (`userId`,`status`,`updated`),
  KEY `idx_groupId_updated` (`groupId`,`updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- Group messages, sharded by groupId mod 8. msgId is the per-group sequence
-- allocated in Redis (group_msg_id_<groupId>); created/updated = message create time.
CREATE TABLE IF NOT EXISTS `IMGroupMessage_0` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) NOT NULL DEFAULT '',
  `type` tinyint(3) unsigned NOT NULL DEFAULT 2,
  `status` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_1` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) NOT NULL DEFAULT '',
  `type` tinyint(3) unsigned NOT NULL DEFAULT 2,
  `status` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_2` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) NOT NULL DEFAULT '',
  `type` tinyint(3) unsigned NOT NULL DEFAULT 2,
  `status` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_3` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) NOT NULL DEFAULT '',
  `type` tinyint(3) unsigned NOT NULL DEFAULT 2,
  `status` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_4` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) NOT NULL DEFAULT '',
  `type` tinyint(3) unsigned NOT NULL DEFAULT 2,
  `status` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_5` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) NOT NULL DEFAULT '',
  `type` tinyint(3) unsigned NOT NULL DEFAULT 2,
  `status` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_6` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) NOT NULL DEFAULT '',
  `type` tinyint(3) unsigned NOT NULL DEFAULT 2,
  `status` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_7` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) NOT NULL DEFAULT '',
  `type` tinyint(3) unsigned NOT NULL DEFAULT 2,
  `status` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One-to-one messages, sharded by relateId mod 8 (IMRelationShip.id). msgId is
-- the per-pair sequence allocated in Redis (msg_id_<relateId>). The index named
-- idx_fromId_toId_created really covers (fromId, toId, status), as in the original.
CREATE TABLE IF NOT EXISTS `IMMessage_0` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) DEFAULT '',
  `type` tinyint(2) unsigned NOT NULL DEFAULT 1,
  `status` tinyint(1) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL,
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_1` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) DEFAULT '',
  `type` tinyint(2) unsigned NOT NULL DEFAULT 1,
  `status` tinyint(1) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL,
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_2` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) DEFAULT '',
  `type` tinyint(2) unsigned NOT NULL DEFAULT 1,
  `status` tinyint(1) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL,
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_3` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) DEFAULT '',
  `type` tinyint(2) unsigned NOT NULL DEFAULT 1,
  `status` tinyint(1) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL,
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_4` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) DEFAULT '',
  `type` tinyint(2) unsigned NOT NULL DEFAULT 1,
  `status` tinyint(1) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL,
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_5` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) DEFAULT '',
  `type` tinyint(2) unsigned NOT NULL DEFAULT 1,
  `status` tinyint(1) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL,
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_6` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) DEFAULT '',
  `type` tinyint(2) unsigned NOT NULL DEFAULT 1,
  `status` tinyint(1) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL,
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_7` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) DEFAULT '',
  `type` tinyint(2) unsigned NOT NULL DEFAULT 1,
  `status` tinyint(1) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL,
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Per-user conversation list; type 1 single, 2 group; status 1 = removed.
CREATE TABLE IF NOT EXISTS `IMRecentSession` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `userId` int(11) unsigned NOT NULL,
  `peerId` int(11) unsigned NOT NULL,
  `type` tinyint(1) unsigned DEFAULT 0,
  `status` tinyint(1) unsigned DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_userId_peerId_status_updated` (`userId`,`peerId`,`status`,`updated`),
  KEY `idx_userId_peerId_type` (`userId`,`peerId`,`type`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- User pairs (smallId < bigId). The row id is the relateId that picks the
-- IMMessage_<relateId mod 8> shard.
CREATE TABLE IF NOT EXISTS `IMRelationShip` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `smallId` int(11) unsigned NOT NULL,
  `bigId` int(11) unsigned NOT NULL,
  `status` tinyint(1) unsigned DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_smallId_bigId_status_updated` (`smallId`,`bigId`,`status`,`updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- Accounts. name is the login name; password = md5hex(md5hex(plain) || salt).
-- Only status 0 may log in.
CREATE TABLE IF NOT EXISTS `IMUser` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `sex` tinyint(1) unsigned NOT NULL DEFAULT 0,
  `name` varchar(32) NOT NULL DEFAULT '',
  `domain` varchar(32) NOT NULL DEFAULT '',
  `nick` varchar(32) NOT NULL DEFAULT '',
  `password` varchar(32) NOT NULL DEFAULT '',
  `salt` varchar(4) NOT NULL DEFAULT '',
  `phone` varchar(11) NOT NULL DEFAULT '',
  `email` varchar(64) NOT NULL DEFAULT '',
  `avatar` varchar(255) DEFAULT '',
  `departId` int(11) unsigned NOT NULL,
  `status` tinyint(2) unsigned DEFAULT 0,
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  `push_shield_status` tinyint(1) unsigned NOT NULL DEFAULT 0,
  `sign_info` varchar(128) NOT NULL DEFAULT '',
  PRIMARY KEY (`id`),
  KEY `idx_domain` (`domain`),
  KEY `idx_name` (`name`),
  KEY `idx_phone` (`phone`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Offline file records (file_server tasks waiting for their recipient). Not in ttopen.sql:
-- on a stock original install the offline-file commands fail at the SQL level. Only
-- status 0 (pending) is ever written. The index serves the per-recipient listing
-- (WHERE toId = ? AND status = 0 ORDER BY created).
CREATE TABLE IF NOT EXISTS `IMTransmitFile` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `fileName` varchar(512) NOT NULL DEFAULT '',
  `size` int(11) unsigned NOT NULL DEFAULT 0,
  `taskId` varchar(64) NOT NULL DEFAULT '',
  `status` tinyint(3) unsigned NOT NULL DEFAULT 0,
  `created` int(11) unsigned NOT NULL DEFAULT 0,
  `updated` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_toId_status_created` (`toId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- teamtalk-rs administration (tt-admin, the admin console): one row per change, written in the
-- change's own transaction. The servers never read it.
CREATE TABLE IF NOT EXISTS `IMAdminAudit` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `actor` varchar(64) NOT NULL,
  `action` varchar(32) NOT NULL,
  `target` varchar(64) NOT NULL,
  `detail` varchar(255) NOT NULL DEFAULT '',
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_created` (`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- teamtalk-rs admin console (admin_server): its administrators, apart from the original PHP
-- admin's `IMAdmin`. `password` is an argon2id PHC string; `lastLogin` 0 until the first
-- sign-in. The servers never read it.
CREATE TABLE IF NOT EXISTS `IMAdminAccount` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `name` varchar(64) NOT NULL,
  `password` varchar(255) NOT NULL,
  `created` int(11) unsigned NOT NULL,
  `lastLogin` int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uniq_name` (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
