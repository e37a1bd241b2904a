//! `IM.Server` commands: the online-user list a msg_server sends on connect, status updates
//! and the notifications they cause, the master role; and the same notifications when a link
//! goes away (BEHAVIOUR §6.3, KNOWN_DEFECTS D-RS-1).

use log::{debug, info, warn};
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::pb::base_define::{ClientType, UserStat, UserStatType};
use teamtalk_proto::pb::buddy::ImUserStatNotify;
use teamtalk_proto::pb::server::{
    ImOnlineUserInfo, ImRoleSet, ImServerPcLoginStatusNotify, ImUserStatusUpdate,
};
use teamtalk_proto::{CommandId, Pdu};

use super::parse;
use crate::peer::msg_server::{self, MsgServerLink};
use crate::presence::{Presence, STATUS_OFFLINE, UserId, is_pc};
use crate::replay::ReplayWindow;

/// `login_status` of IMServerPCLoginStatusNotify when the user has a PC client online.
const PC_LOGIN_STATUS_ON: u32 = 1;
/// `login_status` when the user's last PC client went offline.
const PC_LOGIN_STATUS_OFF: u32 = 0;

/// IMOnlineUserInfo: every listed client is recorded on this link, without notifications.
pub(super) fn handle_online_user_info(
    presence: &mut Presence,
    _ctx: &mut Ctx<MsgServerLink>,
    h: ConnHandle,
    pdu: &Pdu,
) {
    let Some(msg) = parse::<ImOnlineUserInfo>(h, pdu) else {
        return;
    };
    // The original's parser rejects the whole message when any entry carries an enum value
    // outside the schema; do the same rather than record half of it.
    let valid = msg.user_stat_list.iter().all(|s| {
        UserStatType::try_from(s.status).is_ok() && ClientType::try_from(s.client_type).is_ok()
    });
    if !valid {
        warn!("ignoring online user info with unknown enum values: handle={h}");
        return;
    }
    for stat in &msg.user_stat_list {
        presence.update(
            UserId(stat.user_id),
            enum_value(stat.status),
            enum_value(stat.client_type),
            h,
        );
    }
    info!(
        "online user info: handle={h} entries={} users_online={}",
        msg.user_stat_list.len(),
        presence.user_count()
    );
}

/// IMUserStatusUpdate: records the change, then tells every msg_server what it means. A
/// login also gets the link the recent targeted relays for the user that did not go there
/// (KNOWN_DEFECTS D-RS-4); returns how many.
pub(super) fn handle_user_status_update(
    presence: &mut Presence,
    window: &mut ReplayWindow,
    ctx: &mut Ctx<MsgServerLink>,
    h: ConnHandle,
    pdu: &Pdu,
) -> usize {
    let Some(msg) = parse::<ImUserStatusUpdate>(h, pdu) else {
        return 0;
    };
    if ClientType::try_from(msg.client_type).is_err() {
        warn!(
            "ignoring status update with unknown client type: handle={h} client_type={}",
            msg.client_type
        );
        return 0;
    }
    debug!(
        "user status update: handle={h} user_id={} status={} client_type={}",
        msg.user_id, msg.user_status, msg.client_type
    );
    apply_status_update(
        presence,
        ctx,
        h,
        UserId(msg.user_id),
        msg.user_status,
        enum_value(msg.client_type),
    );
    if msg.user_status == STATUS_OFFLINE {
        return 0;
    }
    let now = ctx.now();
    let replayed = window.replay(now, UserId(msg.user_id), h, |bytes| {
        ctx.send(h, bytes);
    });
    if replayed > 0 {
        debug!(
            "relays replayed to a late login: handle={h} user_id={} count={replayed}",
            msg.user_id
        );
    }
    replayed
}

/// IMRoleSet: remembers whether the link is its msg_server's master route link.
pub(super) fn handle_role_set(ctx: &mut Ctx<MsgServerLink>, h: ConnHandle, pdu: &Pdu) {
    let Some(msg) = parse::<ImRoleSet>(h, pdu) else {
        return;
    };
    if let Some(link) = ctx.data_mut(h) {
        link.master = msg.master == 1;
    }
    info!("role set: handle={h} master={}", msg.master);
}

/// A link closed (already gone from the loop): everything it reported online is taken offline
/// one client at a time, so the other msg_servers hear exactly what the individual logouts
/// would have told them; then the link leaves the member sets it is still in, silently as in
/// the original. Returns how many users the link had clients of.
pub(super) fn link_closed(
    presence: &mut Presence,
    ctx: &mut Ctx<MsgServerLink>,
    h: ConnHandle,
) -> usize {
    let contributed = presence.link_counts(h);
    let mut users = 0;
    let mut last = None;
    for (user_id, client_type, count) in contributed {
        if last != Some(user_id) {
            users += 1;
            last = Some(user_id);
        }
        for _ in 0..count {
            apply_status_update(presence, ctx, h, user_id, STATUS_OFFLINE, client_type);
        }
    }
    presence.forget_link(h);
    users
}

/// The update rule plus the notifications of BEHAVIOUR §6.3 step 2 and 3. "The user still
/// exists" is the original's notion (some link is a member, see `presence`), which may hold
/// after the user's last client left.
fn apply_status_update(
    presence: &mut Presence,
    ctx: &mut Ctx<MsgServerLink>,
    h: ConnHandle,
    user_id: UserId,
    status: u32,
    client_type: u32,
) {
    presence.update(user_id, status, client_type, h);
    let offline = status == STATUS_OFFLINE;
    let has_pc = presence.has_pc_client(user_id);

    // PC login status, for the user's mobile clients: ON whenever a PC client is online after
    // the change; OFF only when a PC client left and none remains; nothing once the user is
    // gone entirely.
    if presence.contains(user_id) {
        let send = if offline {
            is_pc(client_type) && !has_pc
        } else {
            has_pc
        };
        if send {
            let notify = ImServerPcLoginStatusNotify {
                user_id: user_id.0,
                login_status: if offline {
                    PC_LOGIN_STATUS_OFF
                } else {
                    PC_LOGIN_STATUS_ON
                },
            };
            let pdu = Pdu::new(CommandId::OtherLoginStatusNotify, 0, &notify);
            msg_server::broadcast(ctx, &pdu, None);
        }
    }

    // Presence for everyone's PC clients: only PC changes count, and a PC going offline while
    // another PC client of the user stays online is not news.
    if is_pc(client_type) && !(offline && has_pc) {
        let notify = ImUserStatNotify {
            user_stat: UserStat {
                user_id: user_id.0,
                // The reported status goes out as received (it may be LEAVE); the cast wraps
                // like the original's cast to the enum type.
                status: status as i32,
            },
        };
        let pdu = Pdu::new(CommandId::BuddyListStatusNotify, 0, &notify);
        msg_server::broadcast(ctx, &pdu, None);
    }
}

/// A schema enum's value as the unsigned number the state keys on (values are validated as
/// schema members before, so they are small and positive).
fn enum_value(v: i32) -> u32 {
    u32::try_from(v).unwrap_or_default()
}
