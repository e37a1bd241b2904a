//! Bytes on a client connection of an in-process file_server, through its real reactor, the
//! task state machine and the offline store. Before each input a task from user 1 to user 2 is
//! created over the msg_server port, and the task id placeholder in the input is replaced by
//! its id, so logins, state relays and block exchanges reach a live task.

#![no_main]

use libfuzzer_sys::fuzz_target;
use teamtalk_fuzz::harness::{FileServerTarget, exchange, with_task_id};

/// Offered file size: two blocks and a bit, so transfers have a first, a middle and a last
/// block.
const FILE_SIZE: u32 = 2 * 32_768 + 100;

fuzz_target!(|data: &[u8]| {
    // First byte: the transfer mode (online 1, offline 2); the rest goes on the connection.
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let trans_mode = if mode & 1 == 0 { 1 } else { 2 };
    let (client, task_id) = {
        let mut target = FileServerTarget::get()
            .lock()
            .expect("no panics hold the lock");
        (target.client, target.create_task(trans_mode, FILE_SIZE))
    };
    exchange(client, &with_task_id(input, &task_id));
});
