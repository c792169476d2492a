<?php
// This file is part of local_lmsbridge, the Moodle companion plugin of lms_bridge.
//
// local_lmsbridge is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// local_lmsbridge is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with local_lmsbridge.  If not, see <https://www.gnu.org/licenses/>.

namespace local_lmsbridge;

/**
 * Builds the webhook payloads (docs/moodle-webhooks.md in lms_bridge) and signs them.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class webhook {
    /** Payload format version; the receiver rejects unknown versions. */
    const SCHEMA = 1;

    /**
     * The common part of every payload.
     *
     * @param string $event short event name (quiz_attempt_started, ...)
     * @param \core\event\base $moodleevent the event being reported
     * @param int $userid the student the attempt or submission belongs to
     * @param int $objectid attempt id or submission id
     * @param array $other event specific fields
     * @return array
     */
    public static function payload(string $event, \core\event\base $moodleevent, int $userid, int $objectid,
            array $other): array {
        global $CFG, $DB;
        $user = $DB->get_record('user', ['id' => $userid], 'id, idnumber, email');
        $courseidnumber = (string)$DB->get_field('course', 'idnumber', ['id' => $moodleevent->courseid]);
        return [
            'schema' => self::SCHEMA,
            'event' => $event,
            'eventname' => $moodleevent->eventname,
            'delivery_id' => \core\uuid::generate(),
            'timestamp' => (int)$moodleevent->timecreated,
            'site' => rtrim($CFG->wwwroot, '/'),
            'courseid' => (int)$moodleevent->courseid,
            'courseidnumber' => $courseidnumber,
            'cmid' => (int)$moodleevent->contextinstanceid,
            'userid' => $userid,
            'useridnumber' => $user ? (string)$user->idnumber : '',
            'useremail' => $user ? \core_text::strtolower((string)$user->email) : '',
            'objectid' => $objectid,
            'other' => $other,
        ];
    }

    /**
     * Queue the delivery of a payload of a course the bridge manages, when the bridge URL and secret are set.
     *
     * @param array $payload from payload()
     * @return bool whether a task was queued
     */
    public static function queue(array $payload): bool {
        // Nothing waits in the task queue while the bridge cannot be reached or could not check the signature,
        // and nothing is said about a course the bridge does not manage.
        if (!self::configured() || !examroom::is_managed((int)$payload['courseid'])) {
            return false;
        }
        $task = new task\post_webhook();
        // The body is fixed here, so every retry posts the same bytes with the same delivery id.
        $task->set_custom_data((object)[
            'delivery_id' => $payload['delivery_id'],
            'body' => json_encode($payload, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE),
        ]);
        \core\task\manager::queue_adhoc_task($task);
        return true;
    }

    /**
     * Whether both the bridge URL and the shared secret are set.
     *
     * @return bool
     */
    public static function configured(): bool {
        return trim((string)get_config('local_lmsbridge', 'bridgeurl')) !== ''
            && (string)get_config('local_lmsbridge', 'secret') !== '';
    }

    /**
     * The X-LmsBridge-Signature value.
     *
     * @param string $secret shared secret
     * @param int $timestamp unix seconds sent in X-LmsBridge-Timestamp
     * @param string $body the exact body bytes
     * @return string "sha256=<hex>"
     */
    public static function signature(string $secret, int $timestamp, string $body): string {
        return 'sha256=' . hash_hmac('sha256', $timestamp . '.' . $body, $secret);
    }
}
