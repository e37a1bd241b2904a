//! Every command an outsider can send to a client port, with the protobuf message its body
//! carries: msg_server's client dispatch (before and after login) and file_server's client port.

use prost::Message;
use teamtalk_proto::pb::{buddy, file, group, login, message, other, switch_service};
use teamtalk_proto::{CommandId, Pdu, PduError};

macro_rules! client_commands {
    ($($cmd:ident => $msg:ty,)*) => {
        /// Commands msg_server or file_server accept from a client connection.
        pub const CLIENT_COMMANDS: &[CommandId] = &[$(CommandId::$cmd,)*];

        /// Parses `pdu`'s body as the message of its command, if that command is one a client
        /// may send; the decoded message is re-encoded so the whole message is touched.
        pub fn parse_client_body(pdu: &Pdu) -> Option<Result<Vec<u8>, PduError>> {
            match pdu.command()? {
                $(CommandId::$cmd => Some(pdu.parse::<$msg>().map(|m| m.encode_to_vec())),)*
                _ => None,
            }
        }

        /// The default message of `cmd` encoded: a seed body.
        pub fn default_body(cmd: CommandId) -> Option<Vec<u8>> {
            match cmd {
                $(CommandId::$cmd => Some(<$msg>::default().encode_to_vec()),)*
                _ => None,
            }
        }
    };
}

client_commands! {
    // Accepted before login (KNOWN_DEFECTS D-AUTH-1).
    OtherHeartbeat => other::ImHeartBeat,
    LoginReqUserlogin => login::ImLoginReq,
    MsgTimeRequest => message::ImClientTimeReq,
    LoginReqRegist => login::ImRegistReq,
    // Accepted after login.
    LoginReqLoginout => login::ImLogoutReq,
    LoginReqDevicetoken => login::ImDeviceTokenReq,
    LoginReqKickpcclient => login::ImKickPcClientReq,
    LoginReqPushShield => login::ImPushShieldReq,
    LoginReqQueryPushShield => login::ImQueryPushShieldReq,
    BuddyListRecentContactSessionRequest => buddy::ImRecentContactSessionReq,
    BuddyListUserInfoRequest => buddy::ImUsersInfoReq,
    BuddyListRemoveSessionReq => buddy::ImRemoveSessionReq,
    BuddyListAllUserRequest => buddy::ImAllUserReq,
    BuddyListUsersStatusRequest => buddy::ImUsersStatReq,
    BuddyListChangeAvatarRequest => buddy::ImChangeAvatarReq,
    BuddyListDepartmentRequest => buddy::ImDepartmentReq,
    BuddyListChangeSignInfoRequest => buddy::ImChangeSignInfoReq,
    MsgData => message::ImMsgData,
    MsgDataAck => message::ImMsgDataAck,
    MsgReadAck => message::ImMsgDataReadAck,
    MsgUnreadCntRequest => message::ImUnreadMsgCntReq,
    MsgListRequest => message::ImGetMsgListReq,
    MsgGetLatestMsgIdReq => message::ImGetLatestMsgIdReq,
    MsgGetByMsgIdReq => message::ImGetMsgByIdReq,
    GroupNormalListRequest => group::ImNormalGroupListReq,
    GroupInfoRequest => group::ImGroupInfoListReq,
    GroupCreateRequest => group::ImGroupCreateReq,
    GroupChangeMemberRequest => group::ImGroupChangeMemberReq,
    GroupShieldGroupRequest => group::ImGroupShieldReq,
    FileRequest => file::ImFileReq,
    FileHasOfflineReq => file::ImFileHasOfflineReq,
    FileAddOfflineReq => file::ImFileAddOfflineReq,
    FileDelOfflineReq => file::ImFileDelOfflineReq,
    SwitchP2pCmd => switch_service::Imp2pCmdMsg,
    // file_server's client port.
    FileLoginReq => file::ImFileLoginReq,
    FileState => file::ImFileState,
    FilePullDataReq => file::ImFilePullDataReq,
    FilePullDataRsp => file::ImFilePullDataRsp,
}
