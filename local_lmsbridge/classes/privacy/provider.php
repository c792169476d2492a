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

namespace local_lmsbridge\privacy;

use core_privacy\local\metadata\collection;
use core_privacy\local\request\approved_contextlist;
use core_privacy\local\request\approved_userlist;
use core_privacy\local\request\contextlist;
use core_privacy\local\request\userlist;
use core_privacy\local\request\writer;

/**
 * Privacy provider.
 *
 * What leaves the site: for a course the bridge manages, when a student starts or submits a quiz attempt or
 * submits an assignment, the plugin posts the details below to the lms_bridge service the administrator
 * configured. What waits in the site: until it is delivered, each post waits in Moodle's task queue (an adhoc
 * task of this plugin, with the same details). The plugin has no table of its own; it can export and delete
 * the posts still waiting, per course.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class provider implements
        \core_privacy\local\metadata\provider,
        \core_privacy\local\request\plugin\provider,
        \core_privacy\local\request\core_userlist_provider {

    /**
     * Describe what is sent to the external lms_bridge service and what waits in the task queue.
     *
     * @param collection $collection
     * @return collection
     */
    public static function get_metadata(collection $collection): collection {
        $fields = [
            'userid' => 'privacy:metadata:lmsbridge:userid',
            'useridnumber' => 'privacy:metadata:lmsbridge:useridnumber',
            'useremail' => 'privacy:metadata:lmsbridge:useremail',
            'courseid' => 'privacy:metadata:lmsbridge:courseid',
            'objectid' => 'privacy:metadata:lmsbridge:objectid',
            'other' => 'privacy:metadata:lmsbridge:other',
        ];
        $collection->add_external_location_link('lmsbridge', $fields, 'privacy:metadata:lmsbridge');
        $collection->add_database_table('task_adhoc', ['customdata' => 'privacy:metadata:task_adhoc:customdata'],
            'privacy:metadata:task_adhoc');
        return $collection;
    }

    /**
     * The posts still waiting in the task queue, with their decoded payload.
     *
     * @return array[] [task id => payload array]
     */
    protected static function pending(): array {
        global $DB;
        $out = [];
        $rows = $DB->get_records_select('task_adhoc', 'classname = ? OR classname = ?',
            ['\\local_lmsbridge\\task\\post_webhook', 'local_lmsbridge\\task\\post_webhook'], 'id', 'id, customdata');
        foreach ($rows as $row) {
            $data = json_decode((string)$row->customdata);
            $payload = $data && isset($data->body) ? json_decode((string)$data->body, true) : null;
            if (is_array($payload)) {
                $out[(int)$row->id] = $payload;
            }
        }
        return $out;
    }

    /**
     * Delete waiting posts.
     *
     * @param int[] $taskids
     */
    protected static function delete_tasks(array $taskids): void {
        global $DB;
        if ($taskids) {
            $DB->delete_records_list('task_adhoc', 'id', $taskids);
        }
    }

    /**
     * The course contexts of the user's waiting posts.
     *
     * @param int $userid
     * @return contextlist
     */
    public static function get_contexts_for_userid(int $userid): contextlist {
        $contextlist = new contextlist();
        $courseids = [];
        foreach (self::pending() as $payload) {
            if ((int)($payload['userid'] ?? 0) === $userid) {
                $courseids[(int)$payload['courseid']] = true;
            }
        }
        if ($courseids) {
            [$insql, $params] = $GLOBALS['DB']->get_in_or_equal(array_keys($courseids), SQL_PARAMS_NAMED);
            $params['level'] = CONTEXT_COURSE;
            $contextlist->add_from_sql("SELECT id FROM {context} WHERE contextlevel = :level AND instanceid $insql",
                $params);
        }
        return $contextlist;
    }

    /**
     * The users with waiting posts in a course context.
     *
     * @param userlist $userlist
     */
    public static function get_users_in_context(userlist $userlist): void {
        $context = $userlist->get_context();
        if ($context->contextlevel != CONTEXT_COURSE) {
            return;
        }
        $userids = [];
        foreach (self::pending() as $payload) {
            if ((int)($payload['courseid'] ?? 0) === (int)$context->instanceid) {
                $userids[] = (int)$payload['userid'];
            }
        }
        $userlist->add_users(array_unique($userids));
    }

    /**
     * Export the user's waiting posts, per course.
     *
     * @param approved_contextlist $contextlist
     */
    public static function export_user_data(approved_contextlist $contextlist): void {
        $userid = (int)$contextlist->get_user()->id;
        foreach ($contextlist->get_contexts() as $context) {
            if ($context->contextlevel != CONTEXT_COURSE) {
                continue;
            }
            $posts = [];
            foreach (self::pending() as $payload) {
                if ((int)($payload['userid'] ?? 0) === $userid && (int)$payload['courseid'] === (int)$context->instanceid) {
                    $posts[] = $payload;
                }
            }
            if ($posts) {
                writer::with_context($context)->export_data([get_string('privacy:path:pending', 'local_lmsbridge')],
                    (object)['posts' => $posts]);
            }
        }
    }

    /**
     * Delete every waiting post of a course.
     *
     * @param \context $context
     */
    public static function delete_data_for_all_users_in_context(\context $context): void {
        if ($context->contextlevel != CONTEXT_COURSE) {
            return;
        }
        $ids = [];
        foreach (self::pending() as $id => $payload) {
            if ((int)($payload['courseid'] ?? 0) === (int)$context->instanceid) {
                $ids[] = $id;
            }
        }
        self::delete_tasks($ids);
    }

    /**
     * Delete the user's waiting posts in the approved courses.
     *
     * @param approved_contextlist $contextlist
     */
    public static function delete_data_for_user(approved_contextlist $contextlist): void {
        $userid = (int)$contextlist->get_user()->id;
        $courseids = [];
        foreach ($contextlist->get_contexts() as $context) {
            if ($context->contextlevel == CONTEXT_COURSE) {
                $courseids[] = (int)$context->instanceid;
            }
        }
        $ids = [];
        foreach (self::pending() as $id => $payload) {
            if ((int)($payload['userid'] ?? 0) === $userid && in_array((int)$payload['courseid'], $courseids, true)) {
                $ids[] = $id;
            }
        }
        self::delete_tasks($ids);
    }

    /**
     * Delete the listed users' waiting posts in one course.
     *
     * @param approved_userlist $userlist
     */
    public static function delete_data_for_users(approved_userlist $userlist): void {
        $context = $userlist->get_context();
        if ($context->contextlevel != CONTEXT_COURSE) {
            return;
        }
        $userids = array_map('intval', $userlist->get_userids());
        $ids = [];
        foreach (self::pending() as $id => $payload) {
            if ((int)$payload['courseid'] === (int)$context->instanceid && in_array((int)$payload['userid'], $userids, true)) {
                $ids[] = $id;
            }
        }
        self::delete_tasks($ids);
    }
}
