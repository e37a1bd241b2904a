//! Service and command ids of every TeamTalk PDU (PROTOCOL §3–§4).
//!
//! Dispatch in every server is by command id alone: command ids are unique across services, and
//! the service id in a received header is never checked (clients and C++ peers sometimes send
//! another one). The service a command belongs to is its high byte.

use std::fmt;

/// Error for a numeric id that names no known service or command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown id 0x{0:04x}")]
pub struct UnknownId(pub u16);

macro_rules! id_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $value:literal => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum $name {
            $(
                #[doc = $text]
                $variant = $value,
            )*
        }

        impl $name {
            /// Every value, in ascending numeric order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The name the original sources use for this id.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl TryFrom<u16> for $name {
            type Error = UnknownId;

            fn try_from(value: u16) -> Result<Self, UnknownId> {
                match value {
                    $($value => Ok(Self::$variant),)*
                    other => Err(UnknownId(other)),
                }
            }
        }

        impl From<$name> for u16 {
            fn from(id: $name) -> u16 {
                id as u16
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(0x{:04x})", self.name(), *self as u16)
            }
        }
    };
}

id_enum! {
    /// `IM.BaseDefine.ServiceID`: the header's service field.
    ServiceId {
    Login = 0x0001 => "SID_LOGIN",
    BuddyList = 0x0002 => "SID_BUDDY_LIST",
    Msg = 0x0003 => "SID_MSG",
    Group = 0x0004 => "SID_GROUP",
    File = 0x0005 => "SID_FILE",
    SwitchService = 0x0006 => "SID_SWITCH_SERVICE",
    Other = 0x0007 => "SID_OTHER",
    Internal = 0x0008 => "SID_INTERNAL",
    }
}

id_enum! {
    /// Every command id of `IM.BaseDefine` (`*CmdID` enums), including the Polaris fork's
    /// registration pair 0x0110/0x0111. Variant names are the C++ names without `CID_`.
    CommandId {
    LoginReqMsgserver = 0x0101 => "CID_LOGIN_REQ_MSGSERVER",
    LoginResMsgserver = 0x0102 => "CID_LOGIN_RES_MSGSERVER",
    LoginReqUserlogin = 0x0103 => "CID_LOGIN_REQ_USERLOGIN",
    LoginResUserlogin = 0x0104 => "CID_LOGIN_RES_USERLOGIN",
    LoginReqLoginout = 0x0105 => "CID_LOGIN_REQ_LOGINOUT",
    LoginResLoginout = 0x0106 => "CID_LOGIN_RES_LOGINOUT",
    LoginKickUser = 0x0107 => "CID_LOGIN_KICK_USER",
    LoginReqDevicetoken = 0x0108 => "CID_LOGIN_REQ_DEVICETOKEN",
    LoginResDevicetoken = 0x0109 => "CID_LOGIN_RES_DEVICETOKEN",
    LoginReqKickpcclient = 0x010a => "CID_LOGIN_REQ_KICKPCCLIENT",
    LoginResKickpcclient = 0x010b => "CID_LOGIN_RES_KICKPCCLIENT",
    LoginReqPushShield = 0x010c => "CID_LOGIN_REQ_PUSH_SHIELD",
    LoginResPushShield = 0x010d => "CID_LOGIN_RES_PUSH_SHIELD",
    LoginReqQueryPushShield = 0x010e => "CID_LOGIN_REQ_QUERY_PUSH_SHIELD",
    LoginResQueryPushShield = 0x010f => "CID_LOGIN_RES_QUERY_PUSH_SHIELD",
    LoginReqRegist = 0x0110 => "CID_LOGIN_REQ_REGIST",
    LoginResRegist = 0x0111 => "CID_LOGIN_RES_REGIST",
    BuddyListRecentContactSessionRequest = 0x0201 => "CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST",
    BuddyListRecentContactSessionResponse = 0x0202 => "CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE",
    BuddyListStatusNotify = 0x0203 => "CID_BUDDY_LIST_STATUS_NOTIFY",
    BuddyListUserInfoRequest = 0x0204 => "CID_BUDDY_LIST_USER_INFO_REQUEST",
    BuddyListUserInfoResponse = 0x0205 => "CID_BUDDY_LIST_USER_INFO_RESPONSE",
    BuddyListRemoveSessionReq = 0x0206 => "CID_BUDDY_LIST_REMOVE_SESSION_REQ",
    BuddyListRemoveSessionRes = 0x0207 => "CID_BUDDY_LIST_REMOVE_SESSION_RES",
    BuddyListAllUserRequest = 0x0208 => "CID_BUDDY_LIST_ALL_USER_REQUEST",
    BuddyListAllUserResponse = 0x0209 => "CID_BUDDY_LIST_ALL_USER_RESPONSE",
    BuddyListUsersStatusRequest = 0x020a => "CID_BUDDY_LIST_USERS_STATUS_REQUEST",
    BuddyListUsersStatusResponse = 0x020b => "CID_BUDDY_LIST_USERS_STATUS_RESPONSE",
    BuddyListChangeAvatarRequest = 0x020c => "CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST",
    BuddyListChangeAvatarResponse = 0x020d => "CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE",
    BuddyListPcLoginStatusNotify = 0x020e => "CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY",
    BuddyListRemoveSessionNotify = 0x020f => "CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY",
    BuddyListDepartmentRequest = 0x0210 => "CID_BUDDY_LIST_DEPARTMENT_REQUEST",
    BuddyListDepartmentResponse = 0x0211 => "CID_BUDDY_LIST_DEPARTMENT_RESPONSE",
    BuddyListAvatarChangedNotify = 0x0212 => "CID_BUDDY_LIST_AVATAR_CHANGED_NOTIFY",
    BuddyListChangeSignInfoRequest = 0x0213 => "CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST",
    BuddyListChangeSignInfoResponse = 0x0214 => "CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE",
    BuddyListSignInfoChangedNotify = 0x0215 => "CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY",
    MsgData = 0x0301 => "CID_MSG_DATA",
    MsgDataAck = 0x0302 => "CID_MSG_DATA_ACK",
    MsgReadAck = 0x0303 => "CID_MSG_READ_ACK",
    MsgReadNotify = 0x0304 => "CID_MSG_READ_NOTIFY",
    MsgTimeRequest = 0x0305 => "CID_MSG_TIME_REQUEST",
    MsgTimeResponse = 0x0306 => "CID_MSG_TIME_RESPONSE",
    MsgUnreadCntRequest = 0x0307 => "CID_MSG_UNREAD_CNT_REQUEST",
    MsgUnreadCntResponse = 0x0308 => "CID_MSG_UNREAD_CNT_RESPONSE",
    MsgListRequest = 0x0309 => "CID_MSG_LIST_REQUEST",
    MsgListResponse = 0x030a => "CID_MSG_LIST_RESPONSE",
    MsgGetLatestMsgIdReq = 0x030b => "CID_MSG_GET_LATEST_MSG_ID_REQ",
    MsgGetLatestMsgIdRsp = 0x030c => "CID_MSG_GET_LATEST_MSG_ID_RSP",
    MsgGetByMsgIdReq = 0x030d => "CID_MSG_GET_BY_MSG_ID_REQ",
    MsgGetByMsgIdRes = 0x030e => "CID_MSG_GET_BY_MSG_ID_RES",
    GroupNormalListRequest = 0x0401 => "CID_GROUP_NORMAL_LIST_REQUEST",
    GroupNormalListResponse = 0x0402 => "CID_GROUP_NORMAL_LIST_RESPONSE",
    GroupInfoRequest = 0x0403 => "CID_GROUP_INFO_REQUEST",
    GroupInfoResponse = 0x0404 => "CID_GROUP_INFO_RESPONSE",
    GroupCreateRequest = 0x0405 => "CID_GROUP_CREATE_REQUEST",
    GroupCreateResponse = 0x0406 => "CID_GROUP_CREATE_RESPONSE",
    GroupChangeMemberRequest = 0x0407 => "CID_GROUP_CHANGE_MEMBER_REQUEST",
    GroupChangeMemberResponse = 0x0408 => "CID_GROUP_CHANGE_MEMBER_RESPONSE",
    GroupShieldGroupRequest = 0x0409 => "CID_GROUP_SHIELD_GROUP_REQUEST",
    GroupShieldGroupResponse = 0x040a => "CID_GROUP_SHIELD_GROUP_RESPONSE",
    GroupChangeMemberNotify = 0x040b => "CID_GROUP_CHANGE_MEMBER_NOTIFY",
    FileLoginReq = 0x0501 => "CID_FILE_LOGIN_REQ",
    FileLoginRes = 0x0502 => "CID_FILE_LOGIN_RES",
    FileState = 0x0503 => "CID_FILE_STATE",
    FilePullDataReq = 0x0504 => "CID_FILE_PULL_DATA_REQ",
    FilePullDataRsp = 0x0505 => "CID_FILE_PULL_DATA_RSP",
    FileRequest = 0x0506 => "CID_FILE_REQUEST",
    FileResponse = 0x0507 => "CID_FILE_RESPONSE",
    FileNotify = 0x0508 => "CID_FILE_NOTIFY",
    FileHasOfflineReq = 0x0509 => "CID_FILE_HAS_OFFLINE_REQ",
    FileHasOfflineRes = 0x050a => "CID_FILE_HAS_OFFLINE_RES",
    FileAddOfflineReq = 0x050b => "CID_FILE_ADD_OFFLINE_REQ",
    FileDelOfflineReq = 0x050c => "CID_FILE_DEL_OFFLINE_REQ",
    SwitchP2pCmd = 0x0601 => "CID_SWITCH_P2P_CMD",
    OtherHeartbeat = 0x0701 => "CID_OTHER_HEARTBEAT",
    OtherStopRecvPacket = 0x0702 => "CID_OTHER_STOP_RECV_PACKET",
    OtherValidateReq = 0x0703 => "CID_OTHER_VALIDATE_REQ",
    OtherValidateRsp = 0x0704 => "CID_OTHER_VALIDATE_RSP",
    OtherGetDeviceTokenReq = 0x0705 => "CID_OTHER_GET_DEVICE_TOKEN_REQ",
    OtherGetDeviceTokenRsp = 0x0706 => "CID_OTHER_GET_DEVICE_TOKEN_RSP",
    OtherRoleSet = 0x0707 => "CID_OTHER_ROLE_SET",
    OtherOnlineUserInfo = 0x0708 => "CID_OTHER_ONLINE_USER_INFO",
    OtherMsgServInfo = 0x0709 => "CID_OTHER_MSG_SERV_INFO",
    OtherUserStatusUpdate = 0x070a => "CID_OTHER_USER_STATUS_UPDATE",
    OtherUserCntUpdate = 0x070b => "CID_OTHER_USER_CNT_UPDATE",
    OtherServerKickUser = 0x070d => "CID_OTHER_SERVER_KICK_USER",
    OtherLoginStatusNotify = 0x070e => "CID_OTHER_LOGIN_STATUS_NOTIFY",
    OtherPushToUserReq = 0x070f => "CID_OTHER_PUSH_TO_USER_REQ",
    OtherPushToUserRsp = 0x0710 => "CID_OTHER_PUSH_TO_USER_RSP",
    OtherGetShieldReq = 0x0711 => "CID_OTHER_GET_SHIELD_REQ",
    OtherGetShieldRsp = 0x0712 => "CID_OTHER_GET_SHIELD_RSP",
    OtherClearDeviceTokenReq = 0x0713 => "CID_OTHER_CLEAR_DEVICE_TOKEN_REQ",
    OtherFileTransferReq = 0x0731 => "CID_OTHER_FILE_TRANSFER_REQ",
    OtherFileTransferRsp = 0x0732 => "CID_OTHER_FILE_TRANSFER_RSP",
    OtherFileServerIpReq = 0x0733 => "CID_OTHER_FILE_SERVER_IP_REQ",
    OtherFileServerIpRsp = 0x0734 => "CID_OTHER_FILE_SERVER_IP_RSP",
    }
}

impl CommandId {
    /// The service this command belongs to: the high byte of the command id.
    pub fn service(self) -> ServiceId {
        let service = (self as u16) >> 8;
        ServiceId::try_from(service).expect("every command id's high byte is a defined service")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips_and_names_its_service() {
        for &cmd in CommandId::ALL {
            assert_eq!(CommandId::try_from(cmd as u16), Ok(cmd));
            assert_eq!(cmd.service() as u16, (cmd as u16) >> 8);
            assert!(cmd.name().starts_with("CID_"));
        }
        assert_eq!(CommandId::ALL.len(), 98);
    }

    #[test]
    fn unknown_ids_are_errors() {
        assert_eq!(CommandId::try_from(0x070c), Err(UnknownId(0x070c)));
        assert_eq!(ServiceId::try_from(9), Err(UnknownId(9)));
        assert_eq!(CommandId::OtherFileServerIpRsp as u16, 0x0734);
        assert_eq!(CommandId::MsgData.service(), ServiceId::Msg);
    }
}
