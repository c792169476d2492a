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

use core_privacy\local\request\approved_contextlist;
use core_privacy\tests\provider_testcase;

/**
 * Tests of the privacy provider: the posts waiting in the task queue are found, exported and deleted.
 *
 * @package    local_lmsbridge
 * @category   test
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_lmsbridge\privacy\provider
 */
final class provider_test extends provider_testcase {
    /**
     * Queue one post for a user in a course.
     *
     * @param int $courseid
     * @param int $userid
     */
    private function post(int $courseid, int $userid): void {
        $task = new \local_lmsbridge\task\post_webhook();
        $task->set_custom_data((object)['delivery_id' => random_string(8), 'body' => json_encode(
            ['courseid' => $courseid, 'userid' => $userid, 'useremail' => 'x@example.edu', 'event' => 'assign_submitted'])]);
        \core\task\manager::queue_adhoc_task($task);
    }

    public function test_the_component_is_compliant(): void {
        $this->assertTrue((new \core_privacy\manager())->component_is_compliant('local_lmsbridge'));
    }

    public function test_waiting_posts_are_found_exported_and_deleted(): void {
        $this->resetAfterTest();
        $gen = $this->getDataGenerator();
        $course = $gen->create_course();
        $u1 = $gen->create_user();
        $u2 = $gen->create_user();
        $this->post((int)$course->id, (int)$u1->id);
        $this->post((int)$course->id, (int)$u2->id);
        $context = \context_course::instance($course->id);
        $contexts = provider::get_contexts_for_userid((int)$u1->id)->get_contextids();
        $this->assertEquals([$context->id], array_values($contexts));
        $this->export_context_data_for_user((int)$u1->id, $context, 'local_lmsbridge');
        $this->assertTrue(\core_privacy\local\request\writer::with_context($context)->has_any_data());
        provider::delete_data_for_user(new approved_contextlist($u1, 'local_lmsbridge', [$context->id]));
        $this->assertEmpty(provider::get_contexts_for_userid((int)$u1->id)->get_contextids());
        $this->assertNotEmpty(provider::get_contexts_for_userid((int)$u2->id)->get_contextids());
        provider::delete_data_for_all_users_in_context($context);
        $this->assertEmpty(provider::get_contexts_for_userid((int)$u2->id)->get_contextids());
    }
}
