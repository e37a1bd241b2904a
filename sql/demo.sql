-- Demo organisation for local runs: 3 departments, 10 users, 1 normal group of 5.
--
-- Load after schema.sql into the same database. Rows have fixed ids and are written with
-- INSERT IGNORE, so loading again keeps whatever the rows have become (a changed signature,
-- a member who left) instead of resetting them. Users, passwords and ids are listed in
-- sql/README.md.
--
-- Group membership is read from Redis at runtime (group_member_<groupId> in the
-- group_member db), not from IMGroupMember; scripts/services.sh --demo writes those keys
-- from the IMGroupMember rows below.
--
-- Timestamps are fixed (2023-11-14 22:13:20 UTC) so that the data is the same on every
-- machine; anything a client sends later is newer.

SET NAMES utf8mb4;

SET @t := 1700000000;

-- Stored password = md5hex(md5hex(plain) || salt): the client sends md5hex(plain) and
-- db_proxy hashes it again with the user's salt. Every demo user's plain password is
-- tt123456; each user has their own salt, as the PHP admin would give them.
SET @client_pw := MD5('tt123456');

INSERT IGNORE INTO `IMDepart`
  (`id`, `departName`, `priority`, `parentId`, `status`, `created`, `updated`)
VALUES
  (1, 'Engineering', 1, 0, 0, @t, @t),
  (2, 'Product',     2, 0, 0, @t, @t),
  (3, 'Operations',  3, 0, 0, @t, @t);

INSERT IGNORE INTO `IMUser`
  (`id`, `sex`, `name`, `domain`, `nick`, `password`, `salt`, `phone`, `email`, `avatar`,
   `departId`, `status`, `created`, `updated`, `push_shield_status`, `sign_info`)
VALUES
  (1,  2, 'alice', 'alice.chen',   'Alice Chen',   MD5(CONCAT(@client_pw, '4821')), '4821',
   '13800000001', 'alice@example.com', '', 1, 0, @t, @t, 0, ''),
  (2,  1, 'bob',   'bob.wang',     'Bob Wang',     MD5(CONCAT(@client_pw, '0937')), '0937',
   '13800000002', 'bob@example.com',   '', 1, 0, @t, @t, 0, ''),
  (3,  2, 'carol', 'carol.li',     'Carol Li',     MD5(CONCAT(@client_pw, '7215')), '7215',
   '13800000003', 'carol@example.com', '', 1, 0, @t, @t, 0, ''),
  (4,  1, 'dave',  'dave.zhang',   'Dave Zhang',   MD5(CONCAT(@client_pw, '3360')), '3360',
   '13800000004', 'dave@example.com',  '', 1, 0, @t, @t, 0, ''),
  (5,  2, 'erin',  'erin.liu',     'Erin Liu',     MD5(CONCAT(@client_pw, '5084')), '5084',
   '13800000005', 'erin@example.com',  '', 2, 0, @t, @t, 0, ''),
  (6,  1, 'frank', 'frank.huang',  'Frank Huang',  MD5(CONCAT(@client_pw, '1298')), '1298',
   '13800000006', 'frank@example.com', '', 2, 0, @t, @t, 0, ''),
  (7,  2, 'grace', 'grace.zhao',   'Grace Zhao',   MD5(CONCAT(@client_pw, '6642')), '6642',
   '13800000007', 'grace@example.com', '', 2, 0, @t, @t, 0, ''),
  (8,  2, 'heidi', 'heidi.wu',     'Heidi Wu',     MD5(CONCAT(@client_pw, '2579')), '2579',
   '13800000008', 'heidi@example.com', '', 3, 0, @t, @t, 0, ''),
  (9,  1, 'ivan',  'ivan.zhou',    'Ivan Zhou',    MD5(CONCAT(@client_pw, '8013')), '8013',
   '13800000009', 'ivan@example.com',  '', 3, 0, @t, @t, 0, ''),
  (10, 2, 'judy',  'judy.xu',      'Judy Xu',      MD5(CONCAT(@client_pw, '9456')), '9456',
   '13800000010', 'judy@example.com',  '', 3, 0, @t, @t, 0, '');

-- A normal group (type 1) created by alice. status must be 0: the column defaults to 1,
-- which means deleted.
INSERT IGNORE INTO `IMGroup`
  (`id`, `name`, `avatar`, `creator`, `type`, `userCnt`, `status`, `version`, `lastChated`,
   `updated`, `created`)
VALUES
  (1, 'Demo Team', '', 1, 1, 5, 0, 1, 0, @t, @t);

-- status 0 = member; the column defaults to 1 (left). created is the join time that
-- scripts/services.sh copies into Redis.
INSERT IGNORE INTO `IMGroupMember`
  (`id`, `groupId`, `userId`, `status`, `created`, `updated`)
VALUES
  (1, 1, 1, 0, @t, @t),
  (2, 1, 2, 0, @t, @t),
  (3, 1, 3, 0, @t, @t),
  (4, 1, 4, 0, @t, @t),
  (5, 1, 5, 0, @t, @t);

-- The back-office account the original schema file seeds (admin / admin, plain md5).
-- Only the PHP admin reads it; kept so a PHP admin pointed at this database works.
INSERT IGNORE INTO `IMAdmin` (`id`, `uname`, `pwd`, `status`, `created`, `updated`) VALUES
  (1, 'admin', MD5('admin'), 0, 0, 0);
