//! Typed calls for every client command msg_server handles (BEHAVIOUR §2).
//!
//! Each call fills the request the way the official clients do and returns the server's answer
//! message unchanged, so callers (tests above all) can check every field, `result_code`
//! included. Only login turns a non-zero result into an error, [`ClientError::LoginRefused`].
//! Commands the server never answers (acks, read acks, P2P, offline-file add/delete, avatar
//! change) are sent without waiting and return the seq used. Identity fields (`user_id`,
//! `from_user_id`) are filled with the id learnt at login; msg_server overwrites them anyway.
//! All waits use [`crate::ClientConfig::request_timeout`].

use std::fmt;
use std::net::ToSocketAddrs;
use std::time::{SystemTime, UNIX_EPOCH};

use teamtalk_proto::CommandId;
use teamtalk_proto::pb::base_define::{
    ClientType, GroupModifyType, GroupType, GroupVersionInfo, MsgType, ResultType, SessionType,
    TransferFileType, UserInfo, UserStatType,
};
use teamtalk_proto::pb::buddy::{
    ImAllUserReq, ImAllUserRsp, ImChangeAvatarReq, ImChangeSignInfoReq, ImChangeSignInfoRsp,
    ImDepartmentReq, ImDepartmentRsp, ImRecentContactSessionReq, ImRecentContactSessionRsp,
    ImRemoveSessionReq, ImRemoveSessionRsp, ImUsersInfoReq, ImUsersInfoRsp, ImUsersStatReq,
    ImUsersStatRsp,
};
use teamtalk_proto::pb::file::{
    ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileHasOfflineReq, ImFileHasOfflineRsp, ImFileReq,
    ImFileRsp,
};
use teamtalk_proto::pb::group::{
    ImGroupChangeMemberReq, ImGroupChangeMemberRsp, ImGroupCreateReq, ImGroupCreateRsp,
    ImGroupInfoListReq, ImGroupInfoListRsp, ImGroupShieldReq, ImGroupShieldRsp,
    ImNormalGroupListReq, ImNormalGroupListRsp,
};
use teamtalk_proto::pb::login::{
    ImDeviceTokenReq, ImDeviceTokenRsp, ImKickPcClientReq, ImKickPcClientRsp, ImLoginReq,
    ImLoginRes, ImLogoutReq, ImLogoutRsp, ImPushShieldReq, ImPushShieldRsp, ImQueryPushShieldReq,
    ImQueryPushShieldRsp,
};
use teamtalk_proto::pb::message::{
    ImClientTimeReq, ImClientTimeRsp, ImGetLatestMsgIdReq, ImGetLatestMsgIdRsp, ImGetMsgByIdReq,
    ImGetMsgByIdRsp, ImGetMsgListReq, ImGetMsgListRsp, ImMsgData, ImMsgDataAck, ImMsgDataReadAck,
    ImUnreadMsgCntReq, ImUnreadMsgCntRsp,
};
use teamtalk_proto::pb::switch_service::Imp2pCmdMsg;

use crate::client::{Client, ClientConfig, ClientError};
use crate::crypto::{encrypt_text, md5_hex};
use crate::message::ReceivedMessage;

/// What a successful login returns (`IMLoginRes`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoginInfo {
    /// Server time, Unix seconds.
    pub server_time: u32,
    /// `result_string` (the original sends `成功`).
    pub result_string: String,
    /// Online status the server stored for this connection.
    pub online_status: Option<i32>,
    /// The logged-in user (default if the server sent none).
    pub user: UserInfo,
}

impl LoginInfo {
    /// The logged-in user's id.
    pub fn user_id(&self) -> u32 {
        self.user.user_id
    }
}

/// Human text for a login `ResultType` code.
pub fn login_refusal_text(code: i32) -> &'static str {
    match ResultType::try_from(code) {
        Ok(ResultType::RefuseReasonNone) => "no error",
        Ok(ResultType::RefuseReasonNoMsgServer) => "no msg_server available",
        Ok(ResultType::RefuseReasonMsgServerFull) => "msg_servers full",
        Ok(ResultType::RefuseReasonNoDbServer) => "no db_proxy_server",
        Ok(ResultType::RefuseReasonNoLoginServer) => "no login_server",
        Ok(ResultType::RefuseReasonNoRouteServer) => "no route_server",
        Ok(ResultType::RefuseReasonDbValidateFailed) => "wrong password or unknown user",
        Ok(ResultType::RefuseReasonVersionTooOld) => "client version too old",
        Err(_) => "unknown refusal code",
    }
}

/// Current Unix time in seconds (0 if the clock is before 1970).
fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

impl Client {
    /// Connects to the msg_server at `addr` and logs in as an online PC client: the usual first
    /// two steps of a test.
    pub fn connect_and_login<A: ToSocketAddrs + fmt::Display>(
        addr: A,
        user: &str,
        password: &str,
        config: ClientConfig,
    ) -> Result<(Self, LoginInfo), ClientError> {
        let client = Self::connect_with(addr, config)?;
        let info = client.login(
            user,
            password,
            ClientType::Windows,
            UserStatType::UserStatusOnline,
        )?;
        Ok((client, info))
    }

    /// Logs in with a plaintext password (sent as its MD5 hex, PROTOCOL §7.1).
    pub fn login(
        &self,
        user: &str,
        password: &str,
        client_type: ClientType,
        status: UserStatType,
    ) -> Result<LoginInfo, ClientError> {
        self.login_hashed(user, &md5_hex(password), client_type, status)
    }

    /// Logs in with the password field given verbatim (already hashed, or deliberately wrong).
    pub fn login_hashed(
        &self,
        user: &str,
        password_field: &str,
        client_type: ClientType,
        status: UserStatType,
    ) -> Result<LoginInfo, ClientError> {
        let req = ImLoginReq {
            user_name: user.to_owned(),
            password: password_field.to_owned(),
            online_status: status as i32,
            client_type: client_type as i32,
            client_version: Some(self.config().client_version.clone()),
        };
        let res: ImLoginRes = self.call(
            CommandId::LoginReqUserlogin,
            &req,
            CommandId::LoginResUserlogin,
        )?;
        if res.result_code != ResultType::RefuseReasonNone as i32 {
            return Err(ClientError::LoginRefused {
                code: res.result_code,
                reason: login_refusal_text(res.result_code),
                server_text: res.result_string.unwrap_or_default(),
            });
        }
        let user = res.user_info.unwrap_or_default();
        self.set_user_id(user.user_id);
        Ok(LoginInfo {
            server_time: res.server_time,
            result_string: res.result_string.unwrap_or_default(),
            online_status: res.online_status,
            user,
        })
    }

    /// Logs out; the server answers and then closes the connection.
    pub fn logout(&self) -> Result<ImLogoutRsp, ClientError> {
        self.call(
            CommandId::LoginReqLoginout,
            &ImLogoutReq {},
            CommandId::LoginResLoginout,
        )
    }

    /// Registers a push device token (mobile connections only; PC connections get no answer).
    pub fn set_device_token(&self, token: &str) -> Result<ImDeviceTokenRsp, ClientError> {
        let req = ImDeviceTokenReq {
            user_id: self.user_id(),
            device_token: token.to_owned(),
            client_type: None,
            attach_data: None,
        };
        self.call(
            CommandId::LoginReqDevicetoken,
            &req,
            CommandId::LoginResDevicetoken,
        )
    }

    /// Kicks this user's PC client (mobile connections only).
    pub fn kick_pc_client(&self) -> Result<ImKickPcClientRsp, ClientError> {
        let req = ImKickPcClientReq {
            user_id: self.user_id(),
        };
        self.call(
            CommandId::LoginReqKickpcclient,
            &req,
            CommandId::LoginResKickpcclient,
        )
    }

    /// Sets the push shield (1 shielded, 0 not).
    pub fn set_push_shield(&self, shield_status: u32) -> Result<ImPushShieldRsp, ClientError> {
        let req = ImPushShieldReq {
            user_id: self.user_id(),
            shield_status,
            attach_data: None,
        };
        self.call(
            CommandId::LoginReqPushShield,
            &req,
            CommandId::LoginResPushShield,
        )
    }

    /// Queries the push shield.
    pub fn query_push_shield(&self) -> Result<ImQueryPushShieldRsp, ClientError> {
        let req = ImQueryPushShieldReq {
            user_id: self.user_id(),
            attach_data: None,
        };
        self.call(
            CommandId::LoginReqQueryPushShield,
            &req,
            CommandId::LoginResQueryPushShield,
        )
    }

    /// Sends a message body of any type and waits for the server's `IMMsgDataAck` (which
    /// carries the seq of the sent `IMMsgData`).
    pub fn send_message(
        &self,
        to_session: u32,
        msg_type: MsgType,
        msg_data: Vec<u8>,
    ) -> Result<ImMsgDataAck, ClientError> {
        let msg = ImMsgData {
            from_user_id: self.user_id(),
            to_session_id: to_session,
            // Client-local value; the server assigns the real id.
            msg_id: 0,
            create_time: unix_now(),
            msg_type: msg_type as i32,
            msg_data,
            attach_data: None,
        };
        self.call(CommandId::MsgData, &msg, CommandId::MsgDataAck)
    }

    /// Sends an encrypted text message to a user.
    pub fn send_text(&self, to_user: u32, text: &str) -> Result<ImMsgDataAck, ClientError> {
        let data = encrypt_text(text, self.aes_key()).into_bytes();
        self.send_message(to_user, MsgType::SingleText, data)
    }

    /// Sends an encrypted text message to a group.
    pub fn send_group_text(&self, group: u32, text: &str) -> Result<ImMsgDataAck, ClientError> {
        let data = encrypt_text(text, self.aes_key()).into_bytes();
        self.send_message(group, MsgType::GroupText, data)
    }

    /// Sends an audio message (to a user, or to a group when `group` is true): a 4-byte
    /// big-endian duration followed by the audio bytes.
    pub fn send_audio(
        &self,
        to_session: u32,
        group: bool,
        duration_secs: u32,
        audio: &[u8],
    ) -> Result<ImMsgDataAck, ClientError> {
        let mut data = Vec::with_capacity(4 + audio.len());
        data.extend_from_slice(&duration_secs.to_be_bytes());
        data.extend_from_slice(audio);
        let msg_type = if group {
            MsgType::GroupAudio
        } else {
            MsgType::SingleAudio
        };
        self.send_message(to_session, msg_type, data)
    }

    /// Acknowledges a delivered message (`IMMsgDataAck` C→MS); no answer.
    pub fn ack_message(&self, msg: &ReceivedMessage) -> Result<u16, ClientError> {
        let (session_type, session_id) = msg.session();
        self.ack(session_type, session_id, msg.msg_id)
    }

    /// Acknowledges message `msg_id` of a session (for single chat, `session_id` is the
    /// sender); no answer.
    pub fn ack(
        &self,
        session_type: SessionType,
        session_id: u32,
        msg_id: u32,
    ) -> Result<u16, ClientError> {
        let ack = ImMsgDataAck {
            user_id: self.user_id(),
            session_id,
            msg_id,
            session_type: session_type as i32,
        };
        self.send(CommandId::MsgDataAck, &ack)
    }

    /// Marks a session read up to `msg_id` (`IMMsgDataReadAck`); no answer.
    pub fn read_ack(
        &self,
        session_type: SessionType,
        session_id: u32,
        msg_id: u32,
    ) -> Result<u16, ClientError> {
        let ack = ImMsgDataReadAck {
            user_id: self.user_id(),
            session_id,
            msg_id,
            session_type: session_type as i32,
        };
        self.send(CommandId::MsgReadAck, &ack)
    }

    /// The server's clock, Unix seconds.
    pub fn server_time(&self) -> Result<u32, ClientError> {
        let rsp: ImClientTimeRsp = self.call(
            CommandId::MsgTimeRequest,
            &ImClientTimeReq {},
            CommandId::MsgTimeResponse,
        )?;
        Ok(rsp.server_time)
    }

    /// Recent sessions updated after `latest_update_time`.
    pub fn recent_sessions(
        &self,
        latest_update_time: u32,
    ) -> Result<ImRecentContactSessionRsp, ClientError> {
        let req = ImRecentContactSessionReq {
            user_id: self.user_id(),
            latest_update_time,
            attach_data: None,
        };
        self.call(
            CommandId::BuddyListRecentContactSessionRequest,
            &req,
            CommandId::BuddyListRecentContactSessionResponse,
        )
    }

    /// Removes a session from the recent list.
    pub fn remove_session(
        &self,
        session_type: SessionType,
        session_id: u32,
    ) -> Result<ImRemoveSessionRsp, ClientError> {
        let req = ImRemoveSessionReq {
            user_id: self.user_id(),
            session_type: session_type as i32,
            session_id,
            attach_data: None,
        };
        self.call(
            CommandId::BuddyListRemoveSessionReq,
            &req,
            CommandId::BuddyListRemoveSessionRes,
        )
    }

    /// Details of the given users.
    pub fn users_info(&self, user_ids: &[u32]) -> Result<ImUsersInfoRsp, ClientError> {
        let req = ImUsersInfoReq {
            user_id: self.user_id(),
            user_id_list: user_ids.to_vec(),
            attach_data: None,
        };
        self.call(
            CommandId::BuddyListUserInfoRequest,
            &req,
            CommandId::BuddyListUserInfoResponse,
        )
    }

    /// Every user changed after `latest_update_time` (0: all).
    pub fn all_users(&self, latest_update_time: u32) -> Result<ImAllUserRsp, ClientError> {
        let req = ImAllUserReq {
            user_id: self.user_id(),
            latest_update_time,
            attach_data: None,
        };
        self.call(
            CommandId::BuddyListAllUserRequest,
            &req,
            CommandId::BuddyListAllUserResponse,
        )
    }

    /// Departments changed after `latest_update_time` (0: all).
    pub fn departments(&self, latest_update_time: u32) -> Result<ImDepartmentRsp, ClientError> {
        let req = ImDepartmentReq {
            user_id: self.user_id(),
            latest_update_time,
            attach_data: None,
        };
        self.call(
            CommandId::BuddyListDepartmentRequest,
            &req,
            CommandId::BuddyListDepartmentResponse,
        )
    }

    /// Online status of the given users (answered by route_server).
    pub fn users_status(&self, user_ids: &[u32]) -> Result<ImUsersStatRsp, ClientError> {
        let req = ImUsersStatReq {
            user_id: self.user_id(),
            user_id_list: user_ids.to_vec(),
            attach_data: None,
        };
        self.call(
            CommandId::BuddyListUsersStatusRequest,
            &req,
            CommandId::BuddyListUsersStatusResponse,
        )
    }

    /// Changes this user's signature.
    pub fn change_sign_info(&self, sign_info: &str) -> Result<ImChangeSignInfoRsp, ClientError> {
        let req = ImChangeSignInfoReq {
            user_id: self.user_id(),
            sign_info: sign_info.to_owned(),
            attach_data: None,
        };
        self.call(
            CommandId::BuddyListChangeSignInfoRequest,
            &req,
            CommandId::BuddyListChangeSignInfoResponse,
        )
    }

    /// Sends an avatar change; the original never answers it (KNOWN_DEFECTS D-MS-11).
    pub fn change_avatar(&self, avatar_url: &str) -> Result<u16, ClientError> {
        let req = ImChangeAvatarReq {
            user_id: self.user_id(),
            avatar_url: avatar_url.to_owned(),
            attach_data: None,
        };
        self.send(CommandId::BuddyListChangeAvatarRequest, &req)
    }

    /// A page of history: up to `count` messages from `msg_id_begin` downwards (0: newest).
    pub fn message_list(
        &self,
        session_type: SessionType,
        session_id: u32,
        msg_id_begin: u32,
        count: u32,
    ) -> Result<ImGetMsgListRsp, ClientError> {
        let req = ImGetMsgListReq {
            user_id: self.user_id(),
            session_type: session_type as i32,
            session_id,
            msg_id_begin,
            msg_cnt: count,
            attach_data: None,
        };
        self.call(CommandId::MsgListRequest, &req, CommandId::MsgListResponse)
    }

    /// Specific messages of a session by id.
    pub fn messages_by_id(
        &self,
        session_type: SessionType,
        session_id: u32,
        msg_ids: &[u32],
    ) -> Result<ImGetMsgByIdRsp, ClientError> {
        let req = ImGetMsgByIdReq {
            user_id: self.user_id(),
            session_type: session_type as i32,
            session_id,
            msg_id_list: msg_ids.to_vec(),
            attach_data: None,
        };
        self.call(
            CommandId::MsgGetByMsgIdReq,
            &req,
            CommandId::MsgGetByMsgIdRes,
        )
    }

    /// Unread counters of every session.
    pub fn unread_counts(&self) -> Result<ImUnreadMsgCntRsp, ClientError> {
        let req = ImUnreadMsgCntReq {
            user_id: self.user_id(),
            attach_data: None,
        };
        self.call(
            CommandId::MsgUnreadCntRequest,
            &req,
            CommandId::MsgUnreadCntResponse,
        )
    }

    /// The newest message id of a session.
    pub fn latest_msg_id(
        &self,
        session_type: SessionType,
        session_id: u32,
    ) -> Result<ImGetLatestMsgIdRsp, ClientError> {
        let req = ImGetLatestMsgIdReq {
            user_id: self.user_id(),
            session_type: session_type as i32,
            session_id,
            attach_data: None,
        };
        self.call(
            CommandId::MsgGetLatestMsgIdReq,
            &req,
            CommandId::MsgGetLatestMsgIdRsp,
        )
    }

    /// Relays an opaque command to `to_user` (typing indicator, shake…); no answer.
    pub fn p2p(&self, to_user: u32, cmd_msg_data: &str) -> Result<u16, ClientError> {
        let msg = Imp2pCmdMsg {
            from_user_id: self.user_id(),
            to_user_id: to_user,
            cmd_msg_data: cmd_msg_data.to_owned(),
        };
        self.send(CommandId::SwitchP2pCmd, &msg)
    }

    /// The normal (fixed) groups this user belongs to, with versions.
    pub fn group_list(&self) -> Result<ImNormalGroupListRsp, ClientError> {
        let req = ImNormalGroupListReq {
            user_id: self.user_id(),
            attach_data: None,
        };
        self.call(
            CommandId::GroupNormalListRequest,
            &req,
            CommandId::GroupNormalListResponse,
        )
    }

    /// Details of groups given as `(group_id, known version)` (version 0: always send).
    pub fn group_info(&self, groups: &[(u32, u32)]) -> Result<ImGroupInfoListRsp, ClientError> {
        let req = ImGroupInfoListReq {
            user_id: self.user_id(),
            group_version_list: groups
                .iter()
                .map(|&(group_id, version)| GroupVersionInfo { group_id, version })
                .collect(),
            attach_data: None,
        };
        self.call(
            CommandId::GroupInfoRequest,
            &req,
            CommandId::GroupInfoResponse,
        )
    }

    /// Creates a temporary group (clients may not create normal ones).
    pub fn create_group(
        &self,
        name: &str,
        avatar: &str,
        members: &[u32],
    ) -> Result<ImGroupCreateRsp, ClientError> {
        self.create_group_of_type(GroupType::Tmp, name, avatar, members)
    }

    /// Creates a group of any type (msg_server ignores client requests for normal groups).
    pub fn create_group_of_type(
        &self,
        group_type: GroupType,
        name: &str,
        avatar: &str,
        members: &[u32],
    ) -> Result<ImGroupCreateRsp, ClientError> {
        let req = ImGroupCreateReq {
            user_id: self.user_id(),
            group_type: group_type as i32,
            group_name: name.to_owned(),
            group_avatar: avatar.to_owned(),
            member_id_list: members.to_vec(),
            attach_data: None,
        };
        self.call(
            CommandId::GroupCreateRequest,
            &req,
            CommandId::GroupCreateResponse,
        )
    }

    /// Adds or removes group members.
    pub fn change_group_members(
        &self,
        group_id: u32,
        change: GroupModifyType,
        members: &[u32],
    ) -> Result<ImGroupChangeMemberRsp, ClientError> {
        let req = ImGroupChangeMemberReq {
            user_id: self.user_id(),
            change_type: change as i32,
            group_id,
            member_id_list: members.to_vec(),
            attach_data: None,
        };
        self.call(
            CommandId::GroupChangeMemberRequest,
            &req,
            CommandId::GroupChangeMemberResponse,
        )
    }

    /// Shields (1) or unshields (0) a group's push notifications.
    pub fn shield_group(
        &self,
        group_id: u32,
        shield_status: u32,
    ) -> Result<ImGroupShieldRsp, ClientError> {
        let req = ImGroupShieldReq {
            user_id: self.user_id(),
            group_id,
            shield_status,
            attach_data: None,
        };
        self.call(
            CommandId::GroupShieldGroupRequest,
            &req,
            CommandId::GroupShieldGroupResponse,
        )
    }

    /// Asks for a file-transfer task to `to_user`.
    pub fn file_request(
        &self,
        to_user: u32,
        file_name: &str,
        file_size: u32,
        mode: TransferFileType,
    ) -> Result<ImFileRsp, ClientError> {
        let req = ImFileReq {
            from_user_id: self.user_id(),
            to_user_id: to_user,
            file_name: file_name.to_owned(),
            file_size,
            trans_mode: mode as i32,
        };
        self.call(CommandId::FileRequest, &req, CommandId::FileResponse)
    }

    /// Offline files waiting for this user, with file-server addresses.
    pub fn has_offline_file(&self) -> Result<ImFileHasOfflineRsp, ClientError> {
        let req = ImFileHasOfflineReq {
            user_id: self.user_id(),
            attach_data: None,
        };
        self.call(
            CommandId::FileHasOfflineReq,
            &req,
            CommandId::FileHasOfflineRes,
        )
    }

    /// Records an uploaded offline file for `to_user`; no answer.
    pub fn add_offline_file(
        &self,
        to_user: u32,
        task_id: &str,
        file_name: &str,
        file_size: u32,
    ) -> Result<u16, ClientError> {
        let req = ImFileAddOfflineReq {
            from_user_id: self.user_id(),
            to_user_id: to_user,
            task_id: task_id.to_owned(),
            file_name: file_name.to_owned(),
            file_size,
        };
        self.send(CommandId::FileAddOfflineReq, &req)
    }

    /// Deletes an offline-file record (`from_user` is its uploader); no answer.
    pub fn del_offline_file(
        &self,
        from_user: u32,
        to_user: u32,
        task_id: &str,
    ) -> Result<u16, ClientError> {
        let req = ImFileDelOfflineReq {
            from_user_id: from_user,
            to_user_id: to_user,
            task_id: task_id.to_owned(),
        };
        self.send(CommandId::FileDelOfflineReq, &req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_texts() {
        assert_eq!(login_refusal_text(6), "wrong password or unknown user");
        assert_eq!(login_refusal_text(3), "no db_proxy_server");
        assert_eq!(login_refusal_text(5), "no route_server");
        assert_eq!(login_refusal_text(4), "no login_server");
        assert_eq!(login_refusal_text(42), "unknown refusal code");
    }
}
